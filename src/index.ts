// kiln as a library: load a Hugging Face model folder and run it with native kernels.

export { defaultModelPath } from './core/default-model.js'
export { KilnError } from './core/errors.js'
export type { ModelConfig } from './core/models/config.js'
export type {
  FinishReason,
  GenerateOptions,
  GenerationEvent,
  GenerationResult,
  GenerationTimings,
} from './core/runtime/generate.js'
export { type LoadOptions, loadModel, Model } from './core/runtime/model.js'
export type { SamplingOptions } from './core/runtime/sampling.js'
export { type ChatMessage, loadTokenizer, StreamDecoder, Tokenizer } from './core/tokenizer/index.js'
