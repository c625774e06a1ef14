// The safetensors format: read (memory-mapped, validated), write (atomic), sharded checkpoints,
// and float32 access for small tensors.
export { INDEX_FILE, openCheckpoint, SINGLE_FILE } from './checkpoint.js'
export { asFloat32, toFloat32 } from './float32.js'
export { findDuplicateKey } from './json-keys.js'
export { MAX_HEADER_BYTES, openSafetensors, parseSafetensors } from './safetensors-read.js'
export {
  DTYPE_SIZE,
  isSafetensorsDType,
  type SafetensorsDType,
  type SafetensorsFile,
  type TensorToWrite,
  type TensorView,
} from './safetensors-types.js'
export { writeSafetensors } from './safetensors-write.js'
