// kiln as a library: load a Hugging Face model folder and run it with native kernels.
export { loadModel, Model, type LoadOptions } from './core/runtime/model.js'
export type {
  GenerateOptions,
  GenerationEvent,
  GenerationResult,
  GenerationTimings,
  FinishReason,
} from './core/runtime/generate.js'
export type { SamplingOptions } from './core/runtime/sampling.js'
export { loadTokenizer, Tokenizer, StreamDecoder, type ChatMessage } from './core/tokenizer/index.js'
export type { ModelConfig } from './core/models/config.js'
export { KilnError } from './core/errors.js'
export { defaultModelPath } from './core/default-model.js'
