// Quantization schemes: ggml block formats.
export {
  BLOCK_QUANT_TYPES,
  type BlockQuantType,
  canQuantizeRows,
  dequantizeRows,
  quantizedBytes,
  quantizeRows,
} from './block-quant.js'
