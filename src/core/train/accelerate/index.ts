// kiln finetune --launcher accelerate: the run handed to Hugging Face accelerate (see
// finetune-accelerate.ts), with the files it writes for the launch.
export {
  accelerateConfig,
  accelerateConfigYaml,
  deepspeedConfig,
  type MixedPrecision,
  type ZeroStage,
} from './config.js'
export {
  ACCELERATE_DIR,
  type AccelerateFinetuneOptions,
  type AccelerateIo,
  accelerateFiles,
  finetuneAccelerate,
  lastCheckpointStep,
} from './finetune-accelerate.js'
export { LR_SCHEDULER_TYPE, trainingHparams } from './hparams.js'
export { INSTALL_HINT, launchArgs, requireAccelerate } from './launch.js'
export { TRAIN_SCRIPT } from './script.js'
