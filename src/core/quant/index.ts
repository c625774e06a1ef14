// Quantization schemes: ggml block formats and the per-tensor mixes of GGUF export.
export {
  BLOCK_QUANT_TYPES,
  type BlockQuantType,
  canQuantizeRows,
  dequantizeRows,
  type KQuantType,
  type KQuantWeightType,
  type QuantType,
  quantizedBytes,
  quantizeRows,
} from './block-quant.js'
export { type GgufQuantMix, type MixChoice, type MixModel, mixTensorType, moreBitsLayer } from './mix.js'
