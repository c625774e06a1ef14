// Per-tensor types of the K-quant GGUF mixes, after llama.cpp's llama_tensor_get_type (and its
// tensor_type_fallback) for LLAMA_FTYPE_MOSTLY_Q4_K_M and LLAMA_FTYPE_MOSTLY_Q6_K, restricted to
// the architectures kiln exports (llama/mistral, qwen2, gpt2: no experts, no Falcon).
import type { GgufWritableType } from '../formats/gguf-types.js'

/** The K-quant mixes GGUF export writes. */
export type GgufQuantMix = 'q4_k_m' | 'q6_k'

/** What the policy needs to know about the model. */
export interface MixModel {
  numLayers: number
  /** Whether the file has its own `output.weight`; without one, `token_embd` doubles as the head. */
  hasOutput: boolean
}

/**
 * llama.cpp's use_more_bits (renamed: biome takes use* for a React hook): the first and last
 * eighth of the layers, and every third layer in between, get the larger type for the tensors
 * most sensitive to quantization.
 */
export function moreBitsLayer(layer: number, numLayers: number): boolean {
  const eighth = Math.floor(numLayers / 8)
  return layer < eighth || layer >= Math.floor((7 * numLayers) / 8) || (layer - eighth) % 3 === 2
}

/**
 * The type llama.cpp's mix gives a tensor whose rows are whole super-blocks. Q4_K_M: the head
 * (`output`, or `token_embd` when tied) is Q6_K; `attn_v` (`attn_qkv` in GPT-2, which llama.cpp
 * counts as attn_v) and `ffn_down` are Q6_K on use_more_bits layers; everything else is Q4_K.
 * llama.cpp's 70B rule (attn_v Q4_K → Q5_K when 8 heads share a V) needs Q5_K, which kiln lacks.
 */
const MIX_RULES: Record<GgufQuantMix, (name: string, m: MixModel) => 'Q4_K' | 'Q6_K'> = {
  q6_k: () => 'Q6_K',
  q4_k_m: (name, m) => {
    if (name === 'output.weight' || (!m.hasOutput && name === 'token_embd.weight')) return 'Q6_K'
    const blk = /^blk\.(\d+)\.(attn_v|attn_qkv|ffn_down)\.weight$/.exec(name)
    if (blk && moreBitsLayer(Number(blk[1]), m.numLayers)) return 'Q6_K'
    return 'Q4_K'
  },
}

export interface MixChoice {
  type: GgufWritableType
  /** The type the mix wanted when the rows forced another one (a warning for the user). */
  wanted?: 'Q4_K' | 'Q6_K'
}

/**
 * The type of the 2-D weight `name` with rows of `cols` elements in a `mix` file. Rows that are
 * not whole 256-element super-blocks cannot be K-quantized; llama.cpp then falls back to Q5_0 for
 * Q4_K and Q8_0 for Q6_K (and, for the head, Q8_0 straight away). kiln has no Q5_0, and of the
 * two 32-element types it has, Q4_0 would hold less than llama.cpp's Q5_0 while Q8_0 holds more:
 * so both fall back to Q8_0, never below llama.cpp's precision, for a few more bytes. Rows that
 * are not even whole 32-element blocks are F16, as in llama.cpp.
 */
export function mixTensorType(mix: GgufQuantMix, name: string, cols: number, model: MixModel): MixChoice {
  // llama.cpp never quantizes positional embeddings, and its converter writes them F32.
  if (name === 'position_embd.weight') return { type: 'F32' }
  const wanted = MIX_RULES[mix](name, model)
  if (cols % 256 === 0) return { type: wanted }
  return { type: cols % 32 === 0 ? 'Q8_0' : 'F16', wanted }
}
