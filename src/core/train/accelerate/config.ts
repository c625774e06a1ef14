// The files that tell `accelerate launch` how to run kiln's training script: an accelerate config
// (its `default_config.yaml` format) and, with DeepSpeed, a minimal ZeRO config whose sizes are
// "auto", for transformers' Trainer to fill in from the same hyperparameters it trains with.
import { stringify } from 'yaml'

export type MixedPrecision = 'no' | 'fp16' | 'bf16'
export type ZeroStage = 1 | 2 | 3

export interface LaunchSettings {
  /** Training processes, one per GPU. */
  numProcesses: number
  mixedPrecision: MixedPrecision
  /** ZeRO stage, when DeepSpeed shards the run. */
  deepspeed?: ZeroStage
  /** Where the DeepSpeed config file is (with `deepspeed`). */
  deepspeedFile?: string
}

/** accelerate's config file (`accelerate config`'s answers) for one machine. */
export function accelerateConfig(s: LaunchSettings): Record<string, unknown> {
  const distributed = s.deepspeed !== undefined ? 'DEEPSPEED' : s.numProcesses > 1 ? 'MULTI_GPU' : 'NO'
  return {
    compute_environment: 'LOCAL_MACHINE',
    debug: false,
    distributed_type: distributed,
    downcast_bf16: 'no',
    ...(s.deepspeed !== undefined && {
      // Only the file and the init flag: accelerate refuses a DeepSpeed config file beside the
      // fields the file holds (accumulation, clipping, zero stage, and mixed precision, even at the
      // top level: see below); the Trainer fills the file's "auto" values from its arguments.
      deepspeed_config: {
        deepspeed_config_file: s.deepspeedFile,
        zero3_init_flag: s.deepspeed === 3,
      },
    }),
    enable_cpu_affinity: false,
    gpu_ids: 'all',
    machine_rank: 0,
    main_training_function: 'main',
    ...(s.deepspeed === undefined && { mixed_precision: s.mixedPrecision }),
    num_machines: 1,
    num_processes: s.numProcesses,
    rdzv_backend: 'static',
    same_network: true,
    tpu_env: [],
    tpu_use_cluster: false,
    tpu_use_sudo: false,
    use_cpu: false,
  }
}

export function accelerateConfigYaml(s: LaunchSettings): string {
  return `# Written by kiln finetune (launcher accelerate), in accelerate's default_config.yaml format.\n${stringify(accelerateConfig(s))}`
}

/**
 * A minimal ZeRO config for `stage`. The batch sizes, accumulation, clipping and precision are
 * "auto": the Trainer fills them from its TrainingArguments, so they cannot disagree. No optimizer
 * section: the Trainer's AdamW (kiln's optimizer) is used.
 */
export function deepspeedConfig(stage: ZeroStage): Record<string, unknown> {
  return {
    zero_optimization: {
      stage,
      overlap_comm: true,
      contiguous_gradients: true,
      // Stage 3 shards the weights themselves: gather them whole when the result is saved.
      ...(stage === 3 && { stage3_gather_16bit_weights_on_model_save: true }),
    },
    bf16: { enabled: 'auto' },
    fp16: { enabled: 'auto' },
    gradient_accumulation_steps: 'auto',
    gradient_clipping: 'auto',
    train_batch_size: 'auto',
    train_micro_batch_size_per_gpu: 'auto',
    zero_allow_untested_optimizer: true,
  }
}
