// kiln's hyperparameters as the accelerate training script takes them (script.ts): a JSON file
// whose `training_args` are transformers' TrainingArguments keyword arguments, so the mapping from
// kiln's options to the Trainer's is here, in one place, and testable without Python.
import type { resolved } from '../finetune.js'
import type { LearningRateSchedule } from '../types.js'
import type { MixedPrecision } from './config.js'

/** The resolved options, the LoRA target known (the model's family default filled in). */
type Resolved = ReturnType<typeof resolved> & { target: string[] }

/** kiln's schedules as transformers' lr_scheduler_type (kiln's constant keeps its warmup). */
export const LR_SCHEDULER_TYPE: Record<LearningRateSchedule, string> = {
  cosine: 'cosine',
  linear: 'linear',
  constant: 'constant_with_warmup',
}

export interface HparamsInput {
  o: Resolved
  model: string
  out: string
  trainFile: string
  evalFile?: string
  /** Optimizer steps of the whole run (kiln's count for the examples, epochs and processes). */
  totalSteps: number
  warmupSteps: number
  checkpointDir: string
  mixedPrecision: MixedPrecision
  deepspeedFile?: string
  resume: boolean
  padTokenId: number
  /** The file whose existence asks the script to stop after its step and save. */
  stopFile: string
  /** The options a resume must share with the run it continues. */
  fingerprint: Record<string, unknown>
}

export function trainingHparams(i: HparamsInput): Record<string, unknown> {
  const { o } = i
  return {
    format: 'kiln-accelerate-hparams',
    version: 1,
    model: i.model,
    method: o.method,
    out: i.out,
    train_file: i.trainFile,
    eval_file: i.evalFile ?? null,
    seed: o.seed,
    mixed_precision: i.mixedPrecision,
    pad_token_id: i.padTokenId,
    resume: i.resume,
    stop_file: i.stopFile,
    ...(o.method === 'lora' && {
      lora: {
        r: o.rank,
        lora_alpha: o.alpha,
        lora_dropout: o.dropout,
        // PEFT's own spelling of "every linear layer but the output head".
        target_modules: o.target.length === 1 && o.target[0] === 'all-linear' ? 'all-linear' : o.target,
      },
    }),
    fingerprint: i.fingerprint,
    training_args: {
      output_dir: i.checkpointDir,
      max_steps: i.totalSteps,
      per_device_train_batch_size: o.batchSize,
      per_device_eval_batch_size: o.batchSize,
      gradient_accumulation_steps: o.gradAccum,
      learning_rate: o.lr,
      lr_scheduler_type: LR_SCHEDULER_TYPE[o.schedule],
      warmup_steps: i.warmupSteps,
      weight_decay: o.weightDecay,
      max_grad_norm: o.maxGradNorm,
      gradient_checkpointing: o.gradientCheckpointing,
      // kiln's AdamW: PyTorch's, β 0.9/0.999, ε 1e-8.
      optim: 'adamw_torch',
      adam_beta1: 0.9,
      adam_beta2: 0.999,
      adam_epsilon: 1e-8,
      seed: o.seed,
      data_seed: o.seed,
      bf16: i.mixedPrecision === 'bf16',
      fp16: i.mixedPrecision === 'fp16',
      logging_strategy: 'steps',
      logging_steps: 1,
      eval_strategy: i.evalFile !== undefined && o.evalEvery ? 'steps' : 'no',
      ...(i.evalFile !== undefined && o.evalEvery && { eval_steps: o.evalEvery }),
      save_strategy: o.saveEvery ? 'steps' : 'no',
      ...(o.saveEvery && { save_steps: o.saveEvery }),
      // kiln keeps one checkpoint, the last.
      save_total_limit: 1,
      include_num_input_tokens_seen: true,
      remove_unused_columns: false,
      report_to: 'none',
      disable_tqdm: true,
      // LoRA leaves the base frozen: DDP need not look for parameters without gradients.
      ddp_find_unused_parameters: false,
      ...(i.deepspeedFile !== undefined && { deepspeed: i.deepspeedFile }),
    },
  }
}
