// The GGUF format (llama.cpp): a validating memory-mapped reader and an atomic, streaming writer.
export { type GgufFile, type GgufTensorInfo, ggufValue, openGguf, parseGguf } from './gguf-read.js'
export {
  alignUp,
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_FILE_TYPE,
  GGUF_MAGIC,
  GGUF_TOKEN_TYPE,
  GGUF_VERSION,
  GGUF_WRITABLE_TYPES,
  type GgmlTypeName,
  type GgufArrayItems,
  type GgufScalarType,
  type GgufValue,
  type GgufValueKind,
  type GgufWritableType,
  ggmlTensorBytes,
  ggmlTypeName,
  gguf,
} from './gguf-types.js'
export {
  type GgufTensorToWrite,
  type GgufToWrite,
  type WriteGgufOptions,
  type WriteGgufResult,
  writeGguf,
} from './gguf-write.js'
