// Llama, Mistral and Qwen2 (modeling_llama.py / modeling_qwen2.py): embed, L × (RMSNorm →
// attention with rotary positions and GQA → residual → RMSNorm → SwiGLU MLP → residual), norm, head.
// Qwen2's q/k/v biases, tied embeddings and rope scaling are data in the config, not separate code.
import { ConfigError } from '../../errors.js'
import type { GraphBuilder, TensorId } from '../../runtime/graph-builder.js'
import type { ModelConfig } from '../config.js'
import { ropeInvFreq } from '../rope.js'
import type { WeightSet } from '../weights.js'

export function buildLlama(cfg: ModelConfig, g: GraphBuilder, w: WeightSet): TensorId {
  const { hiddenSize: C, numHeads: NH, numKvHeads: NKV, headDim: HS, intermediateSize: F, vocabSize: V } = cfg
  const eps = cfg.norm.eps
  if (cfg.activation !== 'silu')
    throw new ConfigError(`${cfg.architecture}: hidden_act "${cfg.activation}" is not supported (silu)`)
  const invFreq = g.external('rope.inv_freq', 'f32', [HS / 2], ropeInvFreq(cfg.rope!, HS))
  const scale = 1 / Math.sqrt(HS)
  const bias = (name: string, n: number) =>
    cfg.attentionBias ? w.vector(name, n) : w.optionalVector(name, n)

  const embed = w.matrix('model.embed_tokens.weight', [V, C])
  let x = g.embedding('embed', embed, g.tokens) // (N, C)
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `model.layers.${l}`
    const kcache = g.kvCache(`${p}.k_cache`, NKV, HS) // (NB, NKV, BS, HS)
    const vcache = g.kvCache(`${p}.v_cache`, NKV, HS)

    const h = g.rmsnorm(`${p}.input_layernorm`, x, w.vector(`${p}.input_layernorm.weight`, C), eps)
    const a = `${p}.self_attn`
    let q = g.matmul(
      `${a}.q`,
      h,
      w.matrix(`${a}.q_proj.weight`, [NH * HS, C]),
      bias(`${a}.q_proj.bias`, NH * HS),
    )
    let k = g.matmul(
      `${a}.k`,
      h,
      w.matrix(`${a}.k_proj.weight`, [NKV * HS, C]),
      bias(`${a}.k_proj.bias`, NKV * HS),
    )
    const v = g.matmul(
      `${a}.v`,
      h,
      w.matrix(`${a}.v_proj.weight`, [NKV * HS, C]),
      bias(`${a}.v_proj.bias`, NKV * HS),
    )
    // GGUF llama files permute q/k rows for interleaved pairs; attention scores do not change.
    const interleaved = w.layout.ropeInterleaved
    q = g.rope(`${a}.q_rot`, q, invFreq, NH, HS, interleaved) // (N, NH*HS)
    k = g.rope(`${a}.k_rot`, k, invFreq, NKV, HS, interleaved) // (N, NKV*HS)
    g.kvStore(k, v, kcache, vcache)
    const att = g.attention(`${a}.attn`, q, kcache, vcache, NH, scale) // (N, NH*HS)
    const o = g.matmul(
      `${a}.o`,
      att,
      w.matrix(`${a}.o_proj.weight`, [C, NH * HS]),
      w.optionalVector(`${a}.o_proj.bias`, C),
    )
    x = g.add2(`${p}.resid_attn`, x, o)

    const h2 = g.rmsnorm(
      `${p}.post_attention_layernorm`,
      x,
      w.vector(`${p}.post_attention_layernorm.weight`, C),
      eps,
    )
    const m = `${p}.mlp`
    const gate = g.matmul(
      `${m}.gate`,
      h2,
      w.matrix(`${m}.gate_proj.weight`, [F, C]),
      w.optionalVector(`${m}.gate_proj.bias`, F),
    )
    const up = g.matmul(
      `${m}.up`,
      h2,
      w.matrix(`${m}.up_proj.weight`, [F, C]),
      w.optionalVector(`${m}.up_proj.bias`, F),
    )
    const act = g.siluMul(`${m}.act`, gate, up) // (N, F)
    const down = g.matmul(
      `${m}.down`,
      act,
      w.matrix(`${m}.down_proj.weight`, [C, F]),
      w.optionalVector(`${m}.down_proj.bias`, C),
    )
    x = g.add2(`${p}.resid_mlp`, x, down)
  }
  // Only the rows whose logits are wanted go through the final norm and the head.
  const last = g.selectOutRows('out_rows', x) // (R, C)
  const normed = g.rmsnorm('model.norm', last, w.vector('model.norm.weight', C), eps)
  const head = cfg.tieWordEmbeddings ? embed : w.matrix('lm_head.weight', [V, C])
  return g.lmHead(normed, head) // (R, V)
}
