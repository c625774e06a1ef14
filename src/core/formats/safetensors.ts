// The safetensors format: read (memory-mapped, validated), write (atomic), sharded checkpoints,
// and float32 access for small tensors.
export { openCheckpoint } from './checkpoint.js'
export { asFloat32, toFloat32 } from './float.js'
export { openSafetensors } from './safetensors-read.js'
export {
  DTYPE_SIZE,
  type SafetensorsDType,
  type SafetensorsFile,
  type TensorToWrite,
  type TensorView,
} from './safetensors-types.js'
export { writeSafetensors } from './safetensors-write.js'
