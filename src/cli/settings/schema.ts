// The settings schema: the single source of truth for every key kiln reads from the settings file,
// its type and validation (a zod type), its built-in default, its help text, whether it is a secret
// and which environment variables set it. Everything else (the key table, the wizard, `config list`,
// docs/config.md) is derived from this file.
//
// The zod types are written as functions of `z` so that reading the key table does not import zod:
// zod alone costs most of the 150 ms start-up budget, and `kiln config get` usually needs no
// validation (see types.ts and file-cache.ts).
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { z as Z } from 'zod'

/** The settings file format this build writes and reads. */
export const SETTINGS_VERSION = 1

type Zod = typeof Z

export interface SettingDef {
  /** The value's type and validation. */
  type: (z: Zod) => Z.ZodType
  /** One line for help, `config list` and the wizard. */
  help: string
  /**
   * The built-in default, computed when asked (some depend on the machine or on HF_HOME). Absent: the
   * setting has no value unless one is given (generate.* then defer to the model's
   * generation_config.json).
   */
  default?: (env: NodeJS.ProcessEnv) => unknown
  /** Printed redacted everywhere. */
  secret?: boolean
  /** Extra environment variables, after KILN_<SECTION>_<KEY>, in order of precedence. */
  env?: string[]
  /** The default follows the environment (HF_HOME), so it is not written into new files. */
  followsEnv?: boolean
  /** Placeholder text for the wizard when there is no default. */
  example?: string
}

/** Where the Hugging Face hub library keeps its cache: HF_HUB_CACHE, else $HF_HOME/hub. */
export function defaultHubCache(env: NodeJS.ProcessEnv): string {
  const home =
    env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface')
  return path.join(home, 'hub')
}

/** The token `huggingface-cli login` saved: $HF_TOKEN_PATH, else $HF_HOME/token; none when absent. */
export function hubTokenFile(env: NodeJS.ProcessEnv): string | undefined {
  const home =
    env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface')
  try {
    return readFileSync(env.HF_TOKEN_PATH || path.join(home, 'token'), 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

const generationConfig = "(default: the model's generation_config.json)"

/** Sections and their keys. Key names are snake_case, as in transformers and accelerate. */
export const sections = {
  runtime: {
    device: {
      type: (z) => z.enum(['auto', 'cpu', 'cuda']),
      help: 'Where models run; auto picks the best device this build supports.',
      default: () => 'auto',
    },
    threads: {
      type: (z) => z.number().int().min(1),
      help: 'Compute threads for the CPU kernels (default: the number of cores).',
      default: () => os.availableParallelism(),
    },
    dtype: {
      type: (z) => z.enum(['auto', 'f32', 'f16', 'bf16']),
      help: 'Weight type to compute in; auto keeps the type the weights are stored in.',
      default: () => 'auto',
    },
  },
  hub: {
    endpoint: {
      type: (z) => z.url({ protocol: /^https?$/ }),
      help: 'Hugging Face Hub address (a mirror or a private hub).',
      default: () => 'https://huggingface.co',
      env: ['HF_ENDPOINT'],
    },
    cache_dir: {
      type: (z) => z.string().min(1),
      help: 'Hub cache folder, shared with the Python huggingface_hub library.',
      default: defaultHubCache,
      followsEnv: true,
      env: ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE'],
    },
    token: {
      type: (z) => z.string().min(1),
      help: 'Access token for private and gated models (default: the token file huggingface_hub saves).',
      secret: true,
      default: hubTokenFile,
      followsEnv: true,
      env: ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'],
      example: 'hf_…',
    },
    offline: {
      type: (z) => z.boolean(),
      help: 'Use only what is already in the cache; never reach the Hub.',
      default: () => false,
      env: ['HF_HUB_OFFLINE'],
    },
  },
  generate: {
    model: {
      type: (z) => z.string().min(1),
      help: 'Model used when -m is not given (default: the tiny model that ships with kiln).',
      example: './Qwen2-0.5B-Instruct',
    },
    max_new_tokens: {
      type: (z) => z.number().int().min(0),
      help: `Tokens to generate at most ${generationConfig}.`,
    },
    temperature: {
      type: (z) => z.number().min(0),
      help: `Sampling temperature, 0 is greedy ${generationConfig}.`,
    },
    top_p: {
      type: (z) => z.number().gt(0).max(1),
      help: `Nucleus sampling probability mass ${generationConfig}.`,
    },
    top_k: {
      type: (z) => z.number().int().min(0),
      help: `Keep the k most likely tokens, 0 is off ${generationConfig}.`,
    },
  },
  serve: {
    host: {
      type: (z) => z.string().min(1),
      help: 'Address `kiln serve` listens on.',
      default: () => '127.0.0.1',
    },
    port: {
      type: (z) => z.number().int().min(1).max(65535),
      help: 'Port `kiln serve` listens on.',
      default: () => 8080,
    },
    api_key: {
      type: (z) => z.string().min(1),
      help: 'Bearer key clients of `kiln serve` must send (default: none, the server is open).',
      secret: true,
      example: 'a long random string',
    },
    model: {
      type: (z) => z.string().min(1),
      help: 'Model `kiln serve` serves when -m is not given (default: the tiny model that ships with kiln).',
      example: 'Qwen/Qwen2-0.5B-Instruct',
    },
    served_model_name: {
      type: (z) => z.string().min(1),
      help: 'Model name clients send and /v1/models lists (default: the model argument, or its folder name).',
      example: 'qwen2-0.5b',
    },
    context: {
      type: (z) => z.number().int().min(2),
      help: "Positions per sequence, prompt and completion together (default: the model's, at most 4096).",
    },
    max_seqs: {
      type: (z) => z.number().int().min(1),
      help: 'Sequences `kiln serve` runs at once, each holding a KV cache slot.',
      default: () => 16,
    },
    max_queue: {
      type: (z) => z.number().int().min(0),
      help: 'Sequences that may wait for a slot; requests beyond it are refused with 429.',
      default: () => 256,
    },
    kv_blocks: {
      type: (z) => z.number().int().min(1),
      help: 'KV cache blocks `kiln serve` allocates (default: enough for every sequence to fill its context).',
    },
    kv_memory: {
      type: (z) => z.string().min(1), // parsed by the command (src/cli/size.ts), which names the key
      help: 'KV cache size `kiln serve` allocates, in bytes or with a unit (2GiB, 512MiB, 800MB); serve.kv_blocks wins when both are set.',
    },
    prefix_cache: {
      type: (z) => z.boolean(),
      help: 'Reuse the KV cache of a prompt prefix that an earlier request computed.',
      default: () => true,
    },
    threads: {
      type: (z) => z.number().int().min(1),
      help: 'Compute threads for `kiln serve` (default: runtime.threads).',
    },
    chat_template: {
      type: (z) => z.string().min(1),
      help: "Jinja chat template file used instead of the model's own.",
      example: './chat_template.jinja',
    },
    grace_period: {
      type: (z) => z.number().int().min(0),
      help: 'Seconds running requests get to finish after SIGTERM or SIGINT.',
      default: () => 30,
    },
    adapters: {
      type: (z) => z.string().min(1),
      help: 'LoRA adapters served beside the model, NAME=DIR[,NAME=DIR…] (a PEFT folder or repo id each); a request names one as its model.',
      example: 'support=./support-lora,sql=org/sql-lora',
    },
    engine: {
      type: (z) => z.enum(['kiln', 'vllm']),
      help: "What runs the model `kiln serve` serves: kiln's own engine, or vLLM (GPU fleets; needs `pip install vllm`).",
      default: () => 'kiln',
    },
  },
  finetune: {
    // `kiln finetune --launcher`: native is --launcher kiln (the key kept its first name).
    engine: {
      type: (z) => z.enum(['native', 'accelerate']),
      help: "What trains when --launcher is not given: native is kiln's own engine, accelerate hands the run to Hugging Face accelerate (several GPUs; needs `pip install accelerate transformers peft`).",
      default: () => 'native',
    },
    mixed_precision: {
      type: (z) => z.enum(['no', 'fp16', 'bf16']),
      help: 'Mixed precision for training with accelerate.',
      default: () => 'no',
    },
    num_processes: {
      type: (z) => z.number().int().min(1),
      help: 'Training processes with accelerate (one per GPU).',
      default: () => 1,
    },
    deepspeed: {
      type: (z) => z.number().int().min(1).max(3),
      help: 'DeepSpeed ZeRO stage (1, 2 or 3) for training with accelerate (default: no DeepSpeed).',
    },
    // The rest are `kiln finetune`'s flags (the same names, snake_case), so a project can keep its
    // training recipe in the settings file or in KILN_FINETUNE_* variables.
    model: {
      type: (z) => z.string().min(1),
      help: 'Model `kiln finetune` trains when -m is not given (default: the tiny model that ships with kiln).',
      example: 'Qwen/Qwen2-0.5B-Instruct',
    },
    data: {
      type: (z) => z.string().min(1),
      help: 'Training data file (JSONL, JSON, Parquet or text) when --data is not given.',
      example: './train.jsonl',
    },
    output: {
      type: (z) => z.string().min(1),
      help: 'Output folder (default: <model>-<method> in the working folder).',
      example: './my-adapter',
    },
    method: {
      type: (z) => z.enum(['lora', 'full']),
      help: 'lora trains a PEFT adapter; full trains every weight and writes a model folder.',
      default: () => 'lora',
    },
    rank: {
      type: (z) => z.number().int().min(1),
      help: 'LoRA rank r.',
      default: () => 16,
    },
    alpha: {
      type: (z) => z.number().gt(0),
      help: 'LoRA alpha; the update is scaled by alpha / rank (default: 2 × rank).',
    },
    dropout: {
      type: (z) => z.number().min(0).lt(1),
      help: 'Dropout on the LoRA input during training.',
      default: () => 0,
    },
    target: {
      type: (z) => z.string().min(1),
      help: "Modules LoRA adapts: comma-separated names (q_proj,v_proj) or all-linear; unset: PEFT's default for the model's family (q_proj,v_proj; GPT-2: c_attn).",
      example: 'q_proj,k_proj,v_proj,o_proj',
    },
    epochs: {
      type: (z) => z.number().int().min(1),
      help: 'Passes over the training data (max_steps stops sooner).',
      default: () => 1,
    },
    max_steps: {
      type: (z) => z.number().int().min(1),
      help: 'Optimizer steps at most (default: as many as the epochs take).',
    },
    batch_size: {
      type: (z) => z.number().int().min(1),
      help: 'Sequences per micro-batch.',
      default: () => 4,
    },
    grad_accum: {
      type: (z) => z.number().int().min(1),
      help: 'Micro-batches whose gradients add up to one optimizer step.',
      default: () => 1,
    },
    lr: {
      type: (z) => z.number().gt(0),
      help: 'Peak learning rate (default: 2e-4 for lora, 2e-5 for full).',
    },
    schedule: {
      type: (z) => z.enum(['cosine', 'linear', 'constant']),
      help: 'How the learning rate decays after warmup.',
      default: () => 'cosine',
    },
    warmup: {
      type: (z) => z.number().min(0),
      help: 'Warmup: a number of steps (an integer), or a fraction of all steps when below 1.',
      default: () => 0,
    },
    weight_decay: {
      type: (z) => z.number().min(0),
      help: 'AdamW weight decay.',
      default: () => 0,
    },
    max_grad_norm: {
      type: (z) => z.number().gt(0),
      help: 'Gradients are clipped to this global norm.',
      default: () => 1,
    },
    seq_len: {
      type: (z) => z.number().int().min(2),
      help: 'Longest training sequence in tokens; longer examples are truncated.',
      default: () => 512,
    },
    packing: {
      type: (z) => z.boolean(),
      help: "Fill each batch's token budget with several short examples.",
      default: () => false,
    },
    gradient_checkpointing: {
      type: (z) => z.boolean(),
      help: "Recompute each layer's activations in the backward instead of keeping them (less memory, more compute).",
      default: () => false,
    },
    loss_chunk: {
      type: (z) => z.number().int().min(0),
      help: "Vocabulary columns per chunk of the loss: the logits are computed that many at a time, never whole (0: whole; unset: chunks when a micro-batch's logits pass 256 MiB, or with gradient checkpointing).",
      example: '8192',
    },
    merge: {
      type: (z) => z.boolean(),
      help: 'LoRA: also write the base with the adapter folded in, to OUT/merged.',
      default: () => false,
    },
    eval: {
      type: (z) => z.string().min(1),
      help: 'Held-out data file for the eval loss.',
      example: './eval.jsonl',
    },
    eval_split: {
      type: (z) => z.number().gt(0).lt(1),
      help: 'Fraction of the training data held out for the eval loss (instead of an eval file).',
    },
    eval_every: {
      type: (z) => z.number().int().min(1),
      help: 'Steps between eval losses (default: at the end only).',
    },
    save_every: {
      type: (z) => z.number().int().min(1),
      help: 'Steps between checkpoints in the output folder (default: at the end only).',
    },
    resume: {
      type: (z) => z.boolean(),
      help: "Continue from the output folder's last checkpoint.",
      default: () => false,
    },
    seed: {
      type: (z) => z.number().int().min(0),
      help: 'Seed for shuffling, dropout and LoRA initialisation.',
      default: () => 42,
    },
    threads: {
      type: (z) => z.number().int().min(1),
      help: 'Compute threads for `kiln finetune` (default: runtime.threads).',
    },
    force: {
      type: (z) => z.boolean(),
      help: 'Replace an existing output folder.',
      default: () => false,
    },
  },
} satisfies Record<string, Record<string, SettingDef>>

/**
 * The zod schema of a whole settings file: `version`, then sections of optional keys; unknown
 * sections and keys are refused.
 */
export function settingsFileSchema(z: Zod): Z.ZodType {
  const shape: Record<string, Z.ZodType> = { version: z.literal(SETTINGS_VERSION) }
  for (const [name, keys] of Object.entries(sections)) {
    const fields = Object.fromEntries(
      Object.entries(keys as Record<string, SettingDef>).map(([k, def]) => [k, def.type(z).optional()]),
    )
    shape[name] = z.strictObject(fields).optional()
  }
  return z.strictObject(shape)
}
