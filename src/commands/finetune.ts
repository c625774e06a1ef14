// kiln finetune: train a LoRA adapter (or every weight) on a data file, with progress, checkpoints,
// metrics.jsonl and a loss curve in the output folder.
import { Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { type FinetuneReport, finetuneRendering, runFinetune } from '../cli/finetune.js'
import { resolveFinetuneOptions } from '../cli/finetune-options.js'

export default class Finetune extends BaseCommand<FinetuneReport> {
  static summary = 'Fine-tune a model on a data file: a LoRA adapter (PEFT layout) or a full model folder.'
  static description =
    `Trains MODEL (-m: a Hugging Face folder, a GGUF file or a repo id org/name[@rev] fetched through the cache; without -m: finetune.model, else the tiny default model) on --data, a JSONL, JSON, Parquet or text file. --method lora (the default) trains low-rank adapters on the --target modules and writes a PEFT adapter (adapter_config.json, adapter_model.safetensors) that transformers, PEFT and kiln load; --method full trains every weight and writes a model folder.

The optimizer is AdamW with a --schedule (cosine, linear, constant) after --warmup steps (or a fraction of them below 1), gradient clipping at --max-grad-norm and --grad-accum micro-batches of --batch-size sequences of at most --seq-len tokens per step. With --eval (a file) or --eval-split (a fraction of DATA) the eval loss is measured every --eval-every steps and at the end. Checkpoints are saved every --save-every steps and at the end; --resume continues from OUT's last one, and Ctrl-C stops after the current step and saves (a second Ctrl-C quits at once).

OUT holds metrics.jsonl (a JSON line per step and per eval) and loss-curve.svg. An existing OUT is refused unless --force or --resume. Progress goes to stderr: a line redrawn per step on a terminal, a line every few seconds otherwise; --json prints a JSON line per event (start, step, eval, save) and the result last. --launcher accelerate trains with Hugging Face accelerate instead (transformers' Trainer and PEFT, on --num-processes GPUs, with --mixed-precision and --deepspeed ZeRO stages): kiln tokenizes the data itself, writes the examples, a Python script, its hyperparameters and an accelerate config into OUT/accelerate, runs \`accelerate launch\` and shows its progress; OUT gets the same adapter or model folder. It needs \`pip install accelerate transformers peft\`.

Each option not given as a flag comes from KILN_FINETUNE_* variables, then finetune.* in the settings file (\`kiln config\`), then the default.`

  static examples = [
    '<%= config.bin %> finetune -m ./Qwen2-0.5B-Instruct --data train.jsonl -o qwen2-lora',
    '<%= config.bin %> finetune -m Qwen/Qwen2-0.5B-Instruct --data chat.jsonl --eval-split 0.05 --eval-every 100 --epochs 3',
    '<%= config.bin %> finetune -m ./gpt2 --data notes.txt --method full --lr 1e-5 --max-steps 500 --json',
    '<%= config.bin %> finetune -m ./qwen2 --data train.jsonl --target all-linear --rank 8 --packing --seq-len 1024',
    '<%= config.bin %> finetune -m ./qwen2 --data train.jsonl -o qwen2-lora --resume',
    '<%= config.bin %> finetune -m Qwen/Qwen2-7B-Instruct --data chat.jsonl --launcher accelerate --num-processes 4 --mixed-precision bf16 --deepspeed 2',
    'KILN_FINETUNE_DATA=train.jsonl <%= config.bin %> finetune -m ./qwen2 --quiet',
  ]

  // Numbers are taken as text: the settings schema checks them (finetune-options.ts), so a flag and
  // a KILN_FINETUNE_* variable are held to one rule and get one message. Defaults are in the help
  // only: a flag left out must fall through to the environment and the settings file.
  static flags = {
    model: Flags.string({
      char: 'm',
      description:
        'Model folder, GGUF file or repo id (default: finetune.model, else the embedded default model).',
    }),
    data: Flags.string({
      description: 'Training data: JSONL, JSON, Parquet or text (required unless finetune.data).',
    }),
    output: Flags.string({ char: 'o', description: 'Output folder (default: <model>-<method> here).' }),
    method: Flags.string({
      description: 'lora: a PEFT adapter; full: every weight (default lora).',
      options: ['lora', 'full'],
    }),
    rank: Flags.string({ description: 'LoRA rank r (default 16).' }),
    alpha: Flags.string({ description: 'LoRA alpha; updates are scaled by alpha/rank (default 2 × rank).' }),
    dropout: Flags.string({ description: 'Dropout on the LoRA input, 0 ≤ p < 1 (default 0).' }),
    target: Flags.string({
      description: 'Modules to adapt: comma-separated names or all-linear (default q_proj,v_proj).',
    }),
    epochs: Flags.string({ description: 'Passes over the data (default 1).' }),
    'max-steps': Flags.string({
      description: 'Optimizer steps at most (default: as many as the epochs take).',
    }),
    'batch-size': Flags.string({ description: 'Sequences per micro-batch (default 4).' }),
    'grad-accum': Flags.string({ description: 'Micro-batches per optimizer step (default 1).' }),
    lr: Flags.string({ description: 'Peak learning rate (default 2e-4 for lora, 2e-5 for full).' }),
    schedule: Flags.string({
      description: 'Learning-rate decay after warmup (default cosine).',
      options: ['cosine', 'linear', 'constant'],
    }),
    warmup: Flags.string({ description: 'Warmup steps, or a fraction of all steps below 1 (default 0).' }),
    'weight-decay': Flags.string({ description: 'AdamW weight decay (default 0).' }),
    'max-grad-norm': Flags.string({ description: 'Clip gradients to this global norm (default 1.0).' }),
    'seq-len': Flags.string({
      description: 'Longest sequence in tokens; longer examples are truncated (default 512).',
    }),
    packing: Flags.boolean({
      description: "Fill each batch's token budget with several short examples.",
      allowNo: true,
    }),
    'gradient-checkpointing': Flags.boolean({
      description:
        "Recompute each layer's activations in the backward instead of keeping them: about half the activation memory for a third more compute.",
      allowNo: true,
    }),
    'loss-chunk': Flags.string({
      description:
        'Compute the logits N vocabulary columns at a time, never whole (0: whole; default: chunks past 256 MiB of logits, or with --gradient-checkpointing).',
    }),
    merge: Flags.boolean({
      description: 'LoRA: also write the base with the adapter folded in, to OUT/merged.',
      allowNo: true,
    }),
    eval: Flags.string({ description: 'Held-out data file for the eval loss.' }),
    'eval-split': Flags.string({ description: 'Fraction of DATA held out for the eval loss (0 < f < 1).' }),
    'eval-every': Flags.string({ description: 'Steps between eval losses (default: at the end).' }),
    'save-every': Flags.string({ description: 'Steps between checkpoints (default: at the end).' }),
    resume: Flags.boolean({ description: "Continue from OUT's last checkpoint.", allowNo: true }),
    seed: Flags.string({ description: 'Seed for shuffling, dropout and initialisation (default 42).' }),
    threads: Flags.string({ char: 't', description: 'Compute threads (default: runtime.threads).' }),
    force: Flags.boolean({ description: 'Replace OUT if it exists.', allowNo: true }),
    launcher: Flags.string({
      description:
        "What trains: kiln's own engine, or Hugging Face accelerate running a script kiln writes (default: finetune.engine, else kiln).",
      options: ['kiln', 'accelerate'],
    }),
    'num-processes': Flags.string({
      description: 'accelerate: training processes, one per GPU (default 1).',
    }),
    'mixed-precision': Flags.string({
      description: 'accelerate: mixed precision (default no).',
      options: ['no', 'fp16', 'bf16'],
    }),
    deepspeed: Flags.string({
      description: 'accelerate: shard the run with DeepSpeed ZeRO at this stage.',
      options: ['1', '2', '3'],
    }),
  }

  protected rendering = finetuneRendering

  async run(): Promise<FinetuneReport> {
    const { flags } = await this.parse(Finetune)
    const resolved = await resolveFinetuneOptions(flags)
    return runFinetune({ ...resolved, json: flags.json, quiet: flags.quiet })
  }
}
