// Export of Hugging Face model folders to other runtimes' formats (GGUF for llama.cpp).
export {
  type ExportGgufEvent,
  type ExportGgufOptions,
  type ExportGgufResult,
  exportGguf,
  type GgufExportDType,
} from './to-gguf.js'
