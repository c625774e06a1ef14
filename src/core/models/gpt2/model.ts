// GPT-2 (modeling_gpt2.py): token + learned position embeddings, L × (LayerNorm → attention with a
// fused c_attn → residual → LayerNorm → GELU MLP → residual), LayerNorm, tied head. Conv1D weights are
// read in the layout they are stored in ((in, out) in transformers files, (out, in) in GGUF), never
// transposed at load.
import type { GraphBuilder, TensorId } from '../../runtime/graph-builder.js'
import type { ModelConfig } from '../config.js'
import type { WeightSet } from '../weights.js'

export function buildGpt2(cfg: ModelConfig, g: GraphBuilder, w: WeightSet): TensorId {
  const { hiddenSize: C, numHeads: NH, headDim: HS, intermediateSize: F, vocabSize: V } = cfg
  const eps = cfg.norm.eps
  const pre = w.has('transformer.wte.weight') ? 'transformer.' : ''
  const scale = 1 / Math.sqrt(HS)
  const tanh = cfg.activation === 'gelu_tanh'

  const wte = w.matrix(`${pre}wte.weight`, [V, C])
  const wpe = w.matrix(`${pre}wpe.weight`, [cfg.maxPositions, C])
  let x = g.add2('embed', g.embedding('wte', wte, g.tokens), g.embedding('wpe', wpe, g.positions)) // (N, C)
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `${pre}h.${l}`
    const kcache = g.kvCache(`${p}.k_cache`, NH, HS) // (NB, NH, BS, HS)
    const vcache = g.kvCache(`${p}.v_cache`, NH, HS)

    const h = g.layernorm(`${p}.ln_1`, x, w.vector(`${p}.ln_1.weight`, C), w.vector(`${p}.ln_1.bias`, C), eps)
    const qkvW = w.conv1d(`${p}.attn.c_attn.weight`, C, 3 * C)
    const qkv = g.matmul(`${p}.attn.c_attn`, h, qkvW.id, w.vector(`${p}.attn.c_attn.bias`, 3 * C), qkvW.kxm) // (N, 3C)
    const q = g.sliceCols(`${p}.attn.q`, qkv, 0, C)
    const k = g.sliceCols(`${p}.attn.k`, qkv, C, C)
    const v = g.sliceCols(`${p}.attn.v`, qkv, 2 * C, C)
    g.kvStore(k, v, kcache, vcache)
    const att = g.attention(`${p}.attn.attn`, q, kcache, vcache, NH, scale)
    const oW = w.conv1d(`${p}.attn.c_proj.weight`, C, C)
    const o = g.matmul(`${p}.attn.c_proj`, att, oW.id, w.vector(`${p}.attn.c_proj.bias`, C), oW.kxm)
    x = g.add2(`${p}.resid_attn`, x, o)

    const h2 = g.layernorm(
      `${p}.ln_2`,
      x,
      w.vector(`${p}.ln_2.weight`, C),
      w.vector(`${p}.ln_2.bias`, C),
      eps,
    )
    const fcW = w.conv1d(`${p}.mlp.c_fc.weight`, C, F)
    const fc = g.matmul(`${p}.mlp.c_fc`, h2, fcW.id, w.vector(`${p}.mlp.c_fc.bias`, F), fcW.kxm)
    const act = g.gelu(`${p}.mlp.act`, fc, tanh) // (N, F)
    const projW = w.conv1d(`${p}.mlp.c_proj.weight`, F, C)
    const proj = g.matmul(`${p}.mlp.c_proj`, act, projW.id, w.vector(`${p}.mlp.c_proj.bias`, C), projW.kxm)
    x = g.add2(`${p}.resid_mlp`, x, proj)
  }
  const last = g.selectOutRows('out_rows', x) // (R, C)
  const normed = g.layernorm(
    `${pre}ln_f`,
    last,
    w.vector(`${pre}ln_f.weight`, C),
    w.vector(`${pre}ln_f.bias`, C),
    eps,
  )
  return g.lmHead(
    normed,
    cfg.tieWordEmbeddings || !w.has('lm_head.weight') ? wte : w.matrix('lm_head.weight', [V, C]),
  )
}
