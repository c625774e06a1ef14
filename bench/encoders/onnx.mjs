// ONNX ModelProto writing (field numbers from onnx/onnx.proto) and the BERT encoder graph, built
// from a Hugging Face BERT folder's safetensors, in two forms:
//   'plain'  the graph `optimum-cli export onnx --task feature-extraction` writes for BertModel
//            (torch.onnx export, opset 17): Gather embeddings, Add, LayerNormalization, MatMul+Add
//            linears with (in, out) initializers, Reshape/Transpose into heads, MatMul scores, Div
//            by √HS, the additive (1 − mask)·min mask, Softmax, GELU as x·0.5·(1+Erf(x/√2)).
//   'fused'  what onnxruntime.transformers.optimizer writes for it: com.microsoft
//            EmbedLayerNormalization, Attention (packed QKV), SkipLayerNormalization, BiasGelu.
// Inputs input_ids / attention_mask / token_type_ids int64 (batch_size, sequence_length); output
// last_hidden_state float (batch_size, sequence_length, C).
import { readFileSync } from 'node:fs'
import { Message } from './protobuf.mjs'

export const FLOAT = 1
const INT32 = 6
const INT64 = 7
// AttributeProto.AttributeType
const ATTR_FLOAT = 1
const ATTR_INT = 2
const ATTR_INTS = 7

/** Reads a safetensors file: Map name → { shape, data: Float32Array } (F32 tensors only). */
export function readSafetensors(file) {
  const buf = readFileSync(file)
  const n = Number(buf.readBigUInt64LE(0))
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'))
  const base = 8 + n
  const out = new Map()
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue
    if (t.dtype !== 'F32') throw new Error(`${file}: ${name} is ${t.dtype}; this bench reads F32 only`)
    const [a, b] = t.data_offsets
    const bytes = buf.subarray(base + a, base + b)
    // Copy into an aligned array (the data section need not be 4-byte aligned in the file buffer).
    const data = new Float32Array((b - a) / 4)
    new Uint8Array(data.buffer).set(bytes)
    out.set(name, { shape: t.shape, data })
  }
  return out
}

function tensor(name, dataType, dims, raw) {
  const m = new Message()
  for (const d of dims) m.int(1, d) // dims (repeated int64, unpacked is accepted)
  m.int(2, dataType)
  m.string(8, name)
  m.bytes(9, raw) // raw_data, little-endian
  return m
}

export function valueInfo(name, elemType, dims) {
  const shape = new Message()
  for (const d of dims) {
    const dim = new Message()
    if (typeof d === 'number') dim.int(1, d)
    else dim.string(2, d)
    shape.message(1, dim)
  }
  const tensorType = new Message().int(1, elemType).message(2, shape)
  const type = new Message().message(1, tensorType)
  return new Message().string(1, name).message(2, type)
}

function attribute(name, value) {
  const a = new Message().string(1, name)
  if (value.ints) {
    for (const v of value.ints) a.int(8, v)
    a.int(20, ATTR_INTS)
  } else if (value.f !== undefined) {
    a.float(2, value.f)
    a.int(20, ATTR_FLOAT)
  } else {
    a.int(3, value.i)
    a.int(20, ATTR_INT)
  }
  return a
}

/** Collects nodes, initializers and names; `build()` gives the ModelProto. */
export class GraphWriter {
  constructor() {
    this.nodes = []
    this.inits = []
    this.inputs = []
    this.outputs = []
    this.count = 0
    this.usesMs = false
  }

  /** Adds a node; returns its output name(s). attrs: { name: {i}|{f}|{ints} }; `name` names its output. */
  node(op, inputs, attrs = {}, { outputs = 1, domain = '', name } = {}) {
    const id = this.count++
    const outs = name ? [name] : Array.from({ length: outputs }, (_, k) => `/${op}_${id}_out${k}`)
    const m = new Message()
    for (const i of inputs) m.string(1, i)
    for (const o of outs) m.string(2, o)
    m.string(3, `/${op}_${id}`)
    m.string(4, op)
    for (const [k, v] of Object.entries(attrs)) m.message(5, attribute(k, v))
    if (domain) {
      m.string(7, domain)
      this.usesMs = true
    }
    this.nodes.push(m)
    return outputs === 1 ? outs[0] : outs
  }

  init(name, dataType, dims, data) {
    this.inits.push(tensor(name, dataType, dims, data))
    return name
  }

  f32(name, dims, data) {
    return this.init(name, FLOAT, dims, data)
  }

  i64(name, values) {
    return this.init(name, INT64, [values.length], BigInt64Array.from(values.map(BigInt)))
  }

  scalarF32(name, v) {
    return this.init(name, FLOAT, [], Float32Array.of(v))
  }

  build(name) {
    const g = new Message()
    for (const n of this.nodes) g.message(1, n)
    g.string(2, name)
    for (const t of this.inits) g.message(5, t)
    for (const i of this.inputs) g.message(11, i)
    for (const o of this.outputs) g.message(12, o)
    const model = new Message()
    model.int(1, 8) // ir_version 8 (ONNX 1.13+, opset 17/18)
    model.string(2, 'kiln-bench')
    model.string(3, '1')
    model.message(7, g)
    model.message(8, new Message().string(1, '').int(2, 17)) // opset_import ai.onnx 17
    if (this.usesMs) model.message(8, new Message().string(1, 'com.microsoft').int(2, 1))
    return model
  }
}

/** (out, in) row-major → (in, out) row-major: torch's Linear weight as the MatMul initializer. */
function transpose(w, rows, cols) {
  const out = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) {
    const src = r * cols
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[src + c]
  }
  return out
}

/**
 * Builds the BERT encoder of `cfg` (config.json) over `weights` (readSafetensors) as an ONNX
 * ModelProto, 'plain' (optimum's export) or 'fused' (ORT transformers optimizer's ops).
 */
export function buildBertOnnx(cfg, weights, variant = 'plain') {
  const C = cfg.hidden_size
  const NH = cfg.num_attention_heads
  const HS = C / NH
  const F = cfg.intermediate_size
  const L = cfg.num_hidden_layers
  const P = cfg.max_position_embeddings
  const eps = cfg.layer_norm_eps ?? 1e-12
  const prefix = weights.has('bert.embeddings.word_embeddings.weight') ? 'bert.' : ''
  const weight = (name) => {
    const t = weights.get(prefix + name)
    if (!t) throw new Error(`weights have no ${prefix + name}`)
    return t
  }
  const g = new GraphWriter()
  const dyn = ['batch_size', 'sequence_length']
  g.inputs.push(valueInfo('input_ids', INT64, dyn))
  g.inputs.push(valueInfo('attention_mask', INT64, dyn))
  g.inputs.push(valueInfo('token_type_ids', INT64, dyn))
  g.outputs.push(valueInfo('last_hidden_state', FLOAT, [...dyn, C]))
  const init = (name) => {
    const t = weight(name)
    return g.f32(name, t.shape, t.data)
  }
  const linearW = (name, inF, outF) =>
    g.f32(`${name}.weight.T`, [inF, outF], transpose(weight(`${name}.weight`).data, outF, inF))
  const linear = (x, name, inF, outF) =>
    g.node('Add', [g.node('MatMul', [x, linearW(name, inF, outF)]), init(`${name}.bias`)])

  let x
  let maskIndex
  if (variant === 'plain') {
    // embeddings: word + token type, + position ids sliced from the (1, P) buffer; LayerNorm
    const posIds = g.init(
      'embeddings.position_ids',
      INT64,
      [1, P],
      BigInt64Array.from({ length: P }, (_, i) => BigInt(i)),
    )
    const seqLen = g.node('Gather', [g.node('Shape', ['input_ids']), g.i64('one_idx', [1])], {
      axis: { i: 0 },
    })
    const ids = g.node('Slice', [posIds, g.i64('zero_1d', [0]), seqLen, g.i64('axis1_1d', [1])])
    const words = g.node('Gather', [init('embeddings.word_embeddings.weight'), 'input_ids'])
    const types = g.node('Gather', [init('embeddings.token_type_embeddings.weight'), 'token_type_ids'])
    const pos = g.node('Gather', [init('embeddings.position_embeddings.weight'), ids])
    const sum = g.node('Add', [g.node('Add', [words, types]), pos])
    x = g.node(
      'LayerNormalization',
      [sum, init('embeddings.LayerNorm.weight'), init('embeddings.LayerNorm.bias')],
      { axis: { i: -1 }, epsilon: { f: eps } },
    )
    // extended mask: (1 − mask[:, None, None, :]) · finfo(float32).min
    const m4 = g.node('Cast', [g.node('Unsqueeze', ['attention_mask', g.i64('axes_12', [1, 2])])], {
      to: { i: FLOAT },
    })
    const inv = g.node('Sub', [g.scalarF32('one_f', 1), m4])
    maskIndex = g.node('Mul', [inv, g.scalarF32('f32_min', -3.4028234663852886e38)])
  } else {
    const i32 = (name) => g.node('Cast', [name], { to: { i: INT32 } })
    ;[x, maskIndex] = g.node(
      'EmbedLayerNormalization',
      [
        i32('input_ids'),
        i32('token_type_ids'),
        init('embeddings.word_embeddings.weight'),
        init('embeddings.position_embeddings.weight'),
        init('embeddings.token_type_embeddings.weight'),
        init('embeddings.LayerNorm.weight'),
        init('embeddings.LayerNorm.bias'),
        i32('attention_mask'),
      ],
      { epsilon: { f: eps } },
      { outputs: 2, domain: 'com.microsoft' },
    )
  }

  const plain = variant === 'plain'
  const headsShape = plain && g.i64('heads_shape', [0, 0, NH, HS])
  const mergeShape = plain && g.i64('merge_shape', [0, 0, C])
  const sqrtHS = plain && g.scalarF32('sqrt_head_size', Math.sqrt(HS))
  const sqrt2 = plain && g.scalarF32('sqrt_2', Math.SQRT2)
  const half = plain && g.scalarF32('half', 0.5)
  const oneF = 'one_f' // made with the mask, above
  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}`
    if (plain) {
      const heads = (name, perm) =>
        g.node('Transpose', [g.node('Reshape', [linear(x, name, C, C), headsShape])], {
          perm: { ints: perm },
        })
      const q = heads(`${p}.attention.self.query`, [0, 2, 1, 3]) // (B, NH, T, HS)
      const kT = heads(`${p}.attention.self.key`, [0, 2, 3, 1]) // (B, NH, HS, T)
      const v = heads(`${p}.attention.self.value`, [0, 2, 1, 3])
      const scores = g.node('Add', [g.node('Div', [g.node('MatMul', [q, kT]), sqrtHS]), maskIndex])
      const probs = g.node('Softmax', [scores], { axis: { i: -1 } })
      const ctx = g.node('Transpose', [g.node('MatMul', [probs, v])], { perm: { ints: [0, 2, 1, 3] } })
      const att = linear(g.node('Reshape', [ctx, mergeShape]), `${p}.attention.output.dense`, C, C)
      const h = g.node(
        'LayerNormalization',
        [
          g.node('Add', [att, x]),
          init(`${p}.attention.output.LayerNorm.weight`),
          init(`${p}.attention.output.LayerNorm.bias`),
        ],
        { axis: { i: -1 }, epsilon: { f: eps } },
      )
      const up = linear(h, `${p}.intermediate.dense`, C, F)
      const gelu = g.node('Mul', [
        g.node('Mul', [up, g.node('Add', [g.node('Erf', [g.node('Div', [up, sqrt2])]), oneF])]),
        half,
      ])
      const down = linear(gelu, `${p}.output.dense`, F, C)
      x = g.node(
        'LayerNormalization',
        [g.node('Add', [down, h]), init(`${p}.output.LayerNorm.weight`), init(`${p}.output.LayerNorm.bias`)],
        { axis: { i: -1 }, epsilon: { f: eps } },
        { name: l === L - 1 ? 'last_hidden_state' : undefined },
      )
    } else {
      // packed QKV: weight (C, 3C) = [Wqᵀ | Wkᵀ | Wvᵀ], bias (3C)
      const qkvW = new Float32Array(C * 3 * C)
      const qkvB = new Float32Array(3 * C)
      ;['query', 'key', 'value'].forEach((n, k) => {
        const w = weight(`${p}.attention.self.${n}.weight`).data // (C out, C in)
        for (let o = 0; o < C; o++) for (let i = 0; i < C; i++) qkvW[i * 3 * C + k * C + o] = w[o * C + i]
        qkvB.set(weight(`${p}.attention.self.${n}.bias`).data, k * C)
      })
      const att = g.node(
        'Attention',
        [
          x,
          g.f32(`${p}.attention.qkv.weight`, [C, 3 * C], qkvW),
          g.f32(`${p}.attention.qkv.bias`, [3 * C], qkvB),
          maskIndex,
        ],
        { num_heads: { i: NH } },
        { domain: 'com.microsoft' },
      )
      const skipLn = (input, inF, skip, dense, norm, name) =>
        g.node(
          'SkipLayerNormalization',
          [
            g.node('MatMul', [input, linearW(dense, inF, C)]),
            skip,
            init(`${norm}.weight`),
            init(`${norm}.bias`),
            init(`${dense}.bias`),
          ],
          { epsilon: { f: eps } },
          { domain: 'com.microsoft', name },
        )
      const h = skipLn(att, C, x, `${p}.attention.output.dense`, `${p}.attention.output.LayerNorm`)
      const up = g.node(
        'BiasGelu',
        [
          g.node('MatMul', [h, linearW(`${p}.intermediate.dense`, C, F)]),
          init(`${p}.intermediate.dense.bias`),
        ],
        {},
        { domain: 'com.microsoft' },
      )
      const last = l === L - 1 ? 'last_hidden_state' : undefined
      x = skipLn(up, F, h, `${p}.output.dense`, `${p}.output.LayerNorm`, last)
    }
  }
  return g.build(`bert_${variant}`)
}
