// kiln as a library: load a Hugging Face model folder or a GGUF file and run it with native kernels;
// task pipelines over encoders and decoders; export to GGUF and ONNX, quantize to GGUF.

export { compileResponseFormat, type ResponseFormat } from './core/constrain/index.js'
export { defaultModelPath } from './core/default-model.js'
export { KilnError } from './core/errors.js'
export {
  type ExportGgufEvent,
  type ExportGgufOptions,
  type ExportGgufResult,
  type ExportOnnxEvent,
  type ExportOnnxOptions,
  type ExportOnnxResult,
  exportGguf,
  exportOnnx,
  type GgufExportDType,
  type OnnxExportDType,
  type OnnxValidation,
} from './core/export/index.js'
export { type GgufFile, openGguf } from './core/formats/gguf.js'
export {
  type DownloadEvent,
  type DownloadRequest,
  type DownloadResult,
  downloadRepo,
  HubError,
  type HubOptions,
  removeFromCache,
  resolveHubConfig,
  resolveModelArg,
  scanCache,
  verifyCache,
} from './core/hub/index.js'
export type { EncoderConfig, EncoderHead, EncoderType, ModelConfig } from './core/models/config.js'
export { type GgufModelInfo, ggufModelInfo } from './core/models/gguf-model-info.js'
export * from './core/pipelines/index.js'
export { measureQuality, type QualityReport } from './core/quantize/quality.js'
export { requantizeGguf } from './core/quantize/requantize.js'
export {
  type EncoderInput,
  type EncoderLoadOptions,
  EncoderModel,
  type EncoderOutput,
  loadEncoder,
  type RowSelection,
} from './core/runtime/encoder.js'
export type {
  FinishReason,
  GenerateOptions,
  GenerationEvent,
  GenerationResult,
  GenerationTimings,
  PromptLogprobs,
} from './core/runtime/generate.js'
export { type LoadOptions, loadModel, Model } from './core/runtime/model.js'
export { type ModelSource, openModelSource } from './core/runtime/model-source.js'
export type { PositionLogprobs, SamplingOptions, TokenLogprob } from './core/runtime/sampling.js'
export {
  QueueFullError,
  Scheduler,
  SchedulerClosedError,
  type SchedulerOptions,
  type SchedulerStats,
  type StepInfo,
  type SubmitOptions,
} from './core/runtime/scheduler.js'
export { CancelledError, Sequence } from './core/runtime/sequence.js'
export { type ChatMessage, loadTokenizer, StreamDecoder, Tokenizer } from './core/tokenizer/index.js'
