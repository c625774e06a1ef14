// Where the time goes in one BERT-base layer, kiln against ONNX Runtime, at the row counts of batch
// 1 (1 × 128 tokens) and batch 32 (32 × 128). Each engine runs a small graph that repeats one block
// R times (kiln: a native graph built with its GraphBuilder, buffers planned as in a model; ORT: an
// ONNX graph with the exported model's nodes, optimization 'all'); the block's time is
// (t(graph) − t(the same graph without the blocks)) ÷ R, so set-up, input and output costs cancel.
// Blocks (per layer: 4 linears C→C, 1 FFN, 1 attention core, 2 residual+LayerNorm):
//   linear C→C        x·Wᵀ + b                      ORT: MatMul + Add
//   FFN               up C→F, GELU (erf), down F→C  ORT: MatMul, Add, Div/Erf/Add/Mul/Mul, MatMul, Add
//   attention core    heads, q·kᵀ/√HS, softmax, ·v  ORT: Reshape/Transpose, MatMul, Div, Add mask, Softmax, MatMul, Transpose/Reshape
//   add + LayerNorm   residual add, LayerNorm       ORT: Add, LayerNormalization
// and ORT's fused forms of two of them: com.microsoft Attention (q, k, v linears + core, against
// kiln's 3 linears + core) and SkipLayerNormalization (against kiln's add + LayerNorm).
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ort from 'onnxruntime-node'
import { FLOAT, GraphWriter, valueInfo } from './onnx.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const THREADS = 2
const MIN_MS = 250

// below 0.01 ms a block is lost in the noise of the subtraction
const ms = (x) => (x < 0.01 ? '<0.01' : x.toFixed(2))
const ratio = (a, b) => (a < 0.01 || b < 0.01 ? '—' : `${(a / b).toFixed(2)}×`)

function rand(n, a, seed) {
  const out = new Float32Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * a
  }
  return out
}

/**
 * Fastest ms of one call: a warm-up, then at least 3 timed calls and MIN_MS. The minimum, not the
 * median: on a shared machine it is the figure least touched by other processes, and this table
 * is a diagnosis (which blocks cost what), not the headline.
 */
async function timeMs(call) {
  await call()
  let best = Number.POSITIVE_INFINITY
  let n = 0
  const t0 = performance.now()
  while (n < 3 || performance.now() - t0 < MIN_MS) {
    const t = performance.now()
    await call()
    best = Math.min(best, performance.now() - t)
    n++
  }
  return best
}

/** kiln: embedding → R × block → one output row; returns a runner. */
async function kilnChain(B, T, shape, block, R) {
  const { GraphBuilder } = await import(
    pathToFileURL(path.join(root, 'dist/core/runtime/graph-builder.js')).href
  )
  const { native } = await import(pathToFileURL(path.join(root, 'dist/core/native.js')).href)
  const { C, F, NH } = shape
  const N = B * T
  const g = new GraphBuilder({ maxRows: N, maxOutRows: 1, contextLength: 0, slots: 1 })
  let seed = 100
  const w = (shape, a) =>
    g.external(
      `w${seed}`,
      'f32',
      shape,
      rand(
        shape.reduce((x, y) => x * y, 1),
        a,
        seed++,
      ),
    )
  const lin = (x, K, M) => g.matmul(`l${seed}`, x, w([M, K], Math.sqrt(3 / K)), w([M], 0.02))
  // a position embedding too: kiln's graphs need something that bounds the positions
  let x = g.add2(
    'x',
    g.embedding('tok', w([64, C], 1), g.tokens),
    g.embedding('pos', w([T, C], 1), g.positions),
  )
  for (let r = 0; r < R; r++) {
    if (block === 'linear') x = lin(x, C, C)
    else if (block === 'ffn') x = lin(g.gelu(`g${r}`, lin(x, C, F), false), F, C)
    else if (block === 'attention') x = g.bidirAttention(`a${r}`, x, x, x, NH, 1 / Math.sqrt(C / NH))
    else if (block === 'qkv+attention')
      x = g.bidirAttention(`a${r}`, lin(x, C, C), lin(x, C, C), lin(x, C, C), NH, 1 / Math.sqrt(C / NH))
    else if (block === 'add+layernorm')
      x = g.layernorm(`n${r}`, g.add2(`s${r}`, x, x), w([C], 1), w([C], 0.1), 1e-12)
    else throw new Error(block)
  }
  const graph = new (native().Graph)(g.build(g.selectOutRows('out', x)))
  const tokens = new Int32Array(N).map((_, i) => i % 64)
  const pos = new Int32Array(N).map((_, i) => i % T)
  const slots = new Int32Array(N)
  const outRows = Int32Array.of(0)
  return { run: () => graph.runAsync(tokens, pos, slots, outRows, THREADS), dispose: () => graph.dispose() }
}

/** ORT: x (B, T, C) → R × block → y, as the exported graph writes it. */
async function ortChain(B, T, shape, block, R) {
  const { C, F, NH } = shape
  const HS = C / NH
  const g = new GraphWriter()
  g.inputs.push(valueInfo('x', FLOAT, [B, T, C]))
  const masked = block === 'attention'
  if (masked) g.inputs.push(valueInfo('mask', FLOAT, [B, 1, 1, T]))
  g.outputs.push(valueInfo('y', FLOAT, [B, T, C]))
  let seed = 100
  const w = (dims, a) =>
    g.f32(
      `w${seed}`,
      dims,
      rand(
        dims.reduce((x, y) => x * y, 1),
        a,
        seed++,
      ),
    )
  const lin = (x, K, M) => g.node('Add', [g.node('MatMul', [x, w([K, M], Math.sqrt(3 / K))]), w([M], 0.02)])
  const heads = masked && R > 0 && g.i64('heads', [0, 0, NH, HS])
  const merge = masked && R > 0 && g.i64('merge', [0, 0, C])
  const c = (name, v) => g.scalarF32(name, v)
  const split = (x, perm) => g.node('Transpose', [g.node('Reshape', [x, heads])], { perm: { ints: perm } })
  let x = 'x'
  for (let r = 0; r < R; r++) {
    if (block === 'linear') x = lin(x, C, C)
    else if (block === 'ffn') {
      const u = lin(x, C, F)
      const gelu = g.node('Mul', [
        g.node('Mul', [
          u,
          g.node('Add', [g.node('Erf', [g.node('Div', [u, c(`s2_${r}`, Math.SQRT2)])]), c(`one${r}`, 1)]),
        ]),
        c(`half${r}`, 0.5),
      ])
      x = lin(gelu, F, C)
    } else if (block === 'attention') {
      const s = g.node('Add', [
        g.node('Div', [
          g.node('MatMul', [split(x, [0, 2, 1, 3]), split(x, [0, 2, 3, 1])]),
          c(`hs${r}`, Math.sqrt(HS)),
        ]),
        'mask',
      ])
      const ctx = g.node('MatMul', [g.node('Softmax', [s], { axis: { i: -1 } }), split(x, [0, 2, 1, 3])])
      x = g.node('Reshape', [g.node('Transpose', [ctx], { perm: { ints: [0, 2, 1, 3] } }), merge])
    } else if (block === 'qkv+attention')
      x = g.node(
        'Attention',
        [x, w([C, 3 * C], Math.sqrt(3 / C)), w([3 * C], 0.02)],
        { num_heads: { i: NH } },
        { domain: 'com.microsoft' },
      )
    else if (block === 'add+layernorm')
      x = g.node('LayerNormalization', [g.node('Add', [x, x]), w([C], 1), w([C], 0.1)], {
        axis: { i: -1 },
        epsilon: { f: 1e-12 },
      })
    else if (block === 'skiplayernorm')
      x = g.node(
        'SkipLayerNormalization',
        [x, x, w([C], 1), w([C], 0.1)],
        { epsilon: { f: 1e-12 } },
        { domain: 'com.microsoft' },
      )
    else throw new Error(block)
  }
  g.node('Identity', [x], {}, { name: 'y' })
  const session = await ort.InferenceSession.create(g.build('chain').toBuffer(), {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  })
  const feeds = { x: new ort.Tensor('float32', rand(B * T * C, 1, 5), [B, T, C]) }
  if (masked) feeds.mask = new ort.Tensor('float32', new Float32Array(B * T), [B, 1, 1, T])
  return { run: () => session.run(feeds), dispose: () => session.release() }
}

/** ms of one `block` on B×T rows: (t(R blocks) − t(0 blocks)) ÷ R. */
async function blockMs(make, B, T, shape, block) {
  const R = B * T * shape.C <= 4096 * 64 ? 8 : 1 // repeat small blocks, so they outweigh the noise
  const base = await make(B, T, shape, block, 0)
  const chain = await make(B, T, shape, block, R)
  // base, chain, base again: the chain's time less the base's faster figure
  const t0 = await timeMs(base.run)
  const t1 = await timeMs(chain.run)
  const t0b = await timeMs(base.run)
  await base.dispose()
  await chain.dispose()
  return Math.max(0, (t1 - Math.min(t0, t0b)) / R)
}

export async function opBreakdown(cfg, label = 'BERT-base') {
  const shape = { C: cfg.hidden_size, F: cfg.intermediate_size, NH: cfg.num_attention_heads }
  const { C, F } = shape
  const L = cfg.num_hidden_layers
  const T = 128
  console.log('')
  console.log(
    `where the time goes (${label} layer blocks, ${THREADS} threads, fastest ms per block; each engine repeats the block in its own graph, ` +
      'time with blocks − time without; see bench/encoders/ops.mjs):',
  )
  console.log('')
  console.log(
    '| batch (rows) | block | × per layer | kiln ms | ORT ms | kiln time ÷ ORT time | kiln GFLOP/s | ORT GFLOP/s |',
  )
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const B of [1, 32]) {
    const N = B * T
    const blocks = [
      ['linear', `linear ${C}→${C}`, 4, 2 * N * C * C],
      ['ffn', `FFN ${C}→${F}→${C} with GELU`, 1, 4 * N * C * F],
      ['attention', 'attention core (scores, softmax, ·v)', 1, 4 * B * T * T * C],
      ['add+layernorm', 'residual add + LayerNorm', 2, 0],
    ]
    let kSum = 0
    let oSum = 0
    const kiln = {}
    for (const [block, label, times, flops] of blocks) {
      const k = await blockMs(kilnChain, B, T, shape, block)
      const o = await blockMs(ortChain, B, T, shape, block)
      kiln[block] = k
      kSum += times * k
      oSum += times * o
      const gf = (ms) => (flops && ms >= 0.01 ? (flops / ms / 1e6).toFixed(0) : '—')
      console.log(
        `| ${B} (${N}) | ${label} | ${times} | ${ms(k)} | ${ms(o)} | ${ratio(k, o)} | ${gf(k)} | ${gf(o)} |`,
      )
    }
    console.log(
      `| ${B} (${N}) | **one layer** (sum) → × ${L} layers | | ${kSum.toFixed(1)} → ${(L * kSum).toFixed(1)} | ${oSum.toFixed(1)} → ${(L * oSum).toFixed(1)} | ${ratio(kSum, oSum)} | | |`,
    )
    // ORT's fused forms, against the kiln blocks they replace
    const kq = await blockMs(kilnChain, B, T, shape, 'qkv+attention')
    const oq = await blockMs(ortChain, B, T, shape, 'qkv+attention')
    const gfq = (x) => (x >= 0.01 ? ((6 * N * C * C + 4 * B * T * T * C) / x / 1e6).toFixed(0) : '—')
    console.log(
      `| ${B} (${N}) | q,k,v linears + attention core (ORT: fused Attention) | 1 | ${ms(kq)} | ${ms(oq)} | ${ratio(kq, oq)} | ${gfq(kq)} | ${gfq(oq)} |`,
    )
    const ks = kiln['add+layernorm']
    const os = await blockMs(ortChain, B, T, shape, 'skiplayernorm')
    console.log(
      `| ${B} (${N}) | add + LayerNorm (ORT: SkipLayerNormalization) | 2 | ${ms(ks)} | ${ms(os)} | ${ratio(ks, os)} | — | — |`,
    )
  }
}
