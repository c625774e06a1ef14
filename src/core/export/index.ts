// Export of Hugging Face model folders to other runtimes' formats (GGUF for llama.cpp, ONNX for ONNX
// Runtime and transformers.js).

export type { OnnxValidation } from './onnx/validate.js'
export {
  type ExportGgufEvent,
  type ExportGgufOptions,
  type ExportGgufResult,
  exportGguf,
  type GgufExportDType,
} from './to-gguf.js'
export {
  DEFAULT_OPSET,
  type ExportOnnxEvent,
  type ExportOnnxOptions,
  type ExportOnnxResult,
  exportOnnx,
  type OnnxExportDType,
} from './to-onnx.js'
