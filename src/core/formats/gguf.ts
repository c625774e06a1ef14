// The GGUF format (llama.cpp): a validating memory-mapped reader and an atomic, streaming writer.
export { type GgufFile, type GgufTensorInfo, ggufValue, openGguf, parseGguf } from './gguf-read.js'
export {
  GGML_TYPES,
  GGUF_MAGIC,
  GGUF_TOKEN_TYPE,
  type GgmlTypeName,
  type GgufArrayItems,
  type GgufScalarType,
  type GgufValue,
  type GgufValueKind,
  type GgufWritableType,
  gguf,
} from './gguf-types.js'
export {
  type GgufTensorToWrite,
  type GgufToWrite,
  type WriteGgufOptions,
  type WriteGgufResult,
  writeGguf,
} from './gguf-write.js'
