// Loads the native addon once and types its surface. Everything numeric goes through here.

import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Tensor dtypes of the graph; the ggml block types are weights only (native/tensor.h). */
export type NativeDType =
  | 'f32'
  | 'f16'
  | 'bf16'
  | 'i32'
  | 'q4_0'
  | 'q8_0'
  | 'q4_k'
  | 'q6_k'
  | 'q5_0'
  | 'q5_1'
  | 'q5_k'

/** 0: fixed shape; 1: dim 0 is the step's token rows (N); 2: dim 0 is the output rows (R). */
export type RowKind = 0 | 1 | 2

export interface TensorSpec {
  name: string
  dtype: NativeDType
  shape: number[]
  rows?: RowKind
  data?: ArrayBufferView
  /** Rows [row, row + shape[0]) of fixed tensor `of` (same dtype and row shape), no memory of its own. */
  view?: { of: number; row: number }
}

export interface NodeSpec {
  op: string
  inputs: number[]
  output: number
  f?: number[]
  i?: number[]
}

export interface GraphSpec {
  /** Where the graph runs (default 'cpu'). */
  device?: 'cpu'
  /** The device's kernel table: 'cpu' (fast, default) or 'ref' (plain-loop reference twins). */
  backend?: 'cpu' | 'ref'
  tensors: TensorSpec[]
  nodes: NodeSpec[]
  /** Training graphs: the optimizer's adamw nodes, run by update() (native/graph.h). */
  update?: NodeSpec[]
  /** Training graphs: how many of `nodes` compute the loss; a forward-only step runs just those. */
  forwardNodes?: number
  io: {
    tokens: number
    positions: number
    slots: number
    outRows: number
    output: number
    /** Token type ids (BERT's segments), for graphs that embed them. */
    types?: number
    /** The KV block table (slots, blocksPerSlot), for graphs with a KV cache. */
    blocks?: number
    /** Training graphs: the step's next-token labels (N) i32, -100 ignored. */
    targets?: number
    /** Training graphs: the optimizer's 8 f32 hyperparameters (native/train_kernels.h). */
    hyper?: number
  }
}

export interface GraphInfo {
  maxRows: number
  maxOutRows: number
  vocab: number
  outCols: number
  positions: number
  slots: number
  /** The paged KV cache: blocks, positions per block, and block-table entries per slot (0 without a cache). */
  kvBlocks: number
  blockSize: number
  blocksPerSlot: number
  activationBytes: number
  device: string
  backend: string
}

export interface NativeGraph {
  run(
    tokens: Int32Array,
    positions: Int32Array,
    slots: Int32Array,
    outRows: Int32Array,
    threads: number,
    types?: Int32Array,
    blocks?: Int32Array,
    targets?: Int32Array,
  ): Float32Array
  runAsync(
    tokens: Int32Array,
    positions: Int32Array,
    slots: Int32Array,
    outRows: Int32Array,
    threads: number,
    types?: Int32Array,
    /** The (slots × blocksPerSlot) KV block table; absent: slot s owns blocks s·MB … s·MB+MB−1. */
    blocks?: Int32Array,
    targets?: Int32Array,
    /** Training graphs: run the forward and the loss only (evaluation), leaving the gradients. */
    forwardOnly?: boolean,
    /**
     * The array (exactly outRows × output columns) to copy the output into and resolve with,
     * instead of a new one: a decode loop reuses one. JavaScript must not use it until then.
     */
    out?: Float32Array,
  ): Promise<Float32Array>
  dispose(): void
  info(): GraphInfo
  /** Training graphs: runs the adamw nodes with these hyperparameters (lr, β1, β2, ε, wd, bc1, bc2, grad scale). */
  update(hyper: Float32Array, threads: number): void
  /** A copy of an f32 tensor's values (all its rows). */
  readTensor(id: number): Float32Array
  /** Overwrites a fixed f32 tensor the graph owns (parameters, optimizer moments). */
  writeTensor(id: number, data: Float32Array): void
  /** Σ x² over the f32 tensors given (the gradients' global norm), in double. */
  sumSquares(ids: Int32Array): number
}

export interface SampleParams {
  temperature?: number
  topK?: number
  topP?: number
  minP?: number
  repetitionPenalty?: number
  frequencyPenalty?: number
  presencePenalty?: number
  history?: Int32Array
  /** The ids generated so far (not the prompt), for the frequency and presence penalties. */
  generated?: Int32Array
  suppress?: Int32Array
  /** Constrained decoding: bit i of word i/32 set = id i may be generated (others get -inf). */
  allow?: Uint32Array
  /** OpenAI's logit_bias: added to these ids' raw logits before the other processors. */
  biasIds?: Int32Array
  biasValues?: Float32Array
  uniform?: number
  /**
   * Filled when given (length 1 + k): the chosen id's log-probability, then those of the k most
   * likely ids, which go to logprobIds (length k). Under the model's own distribution: the logits
   * before constraint, bias, penalties or temperature.
   */
  logprobs?: Float32Array
  logprobIds?: Int32Array
}

export interface CpuInfo {
  avx2: boolean
  fma: boolean
  f16c: boolean
  avx512f: boolean
  avxvnni: boolean
  avx512vnni: boolean
  /** AMX-TILE + AMX-INT8 with the tile state granted by the OS (x86 Linux). */
  amx: boolean
  /** ARM64: Advanced SIMD, sdot (FEAT_DotProd) and smmla (FEAT_I8MM); false on x86. */
  neon: boolean
  dotprod: boolean
  i8mm: boolean
  /** The kernel tier in use: portable, avx2, avx512, avx512vnni or amx; on ARM64 portable, neon or dotprod (KILN_SIMD caps it). */
  kernels: string
  hardwareThreads: number
  backends: string[]
  ops: string[]
}

/** Steps of one kind (decode: one row per matmul; prefill: the rest) and their time per op kind. */
export interface OpProfileTable {
  steps: number
  ops: Record<string, { us_per_step: number; nodes_per_step: number }>
}

/** A kernel table of this build and the ops it implements (native/kernels.h: always all of them). */
export interface BackendInfo {
  device: string
  name: string
  ops: string[]
}

export interface NativeAddon {
  mapFile(path: string): ArrayBuffer
  Graph: new (spec: GraphSpec) => NativeGraph
  runOp(backend: 'cpu' | 'ref', node: NodeSpec, tensors: TensorSpec[], threads: number): Float32Array
  backends(): BackendInfo[]
  sampleToken(logits: Float32Array, params: SampleParams): number
  applyProcessors(logits: Float32Array, params: SampleParams): void
  /** A given token's log-probability into logprobs[0], the k most likely tokens' into logprobIds and logprobs[1..k]. */
  tokenLogprobs(logits: Float32Array, id: number, logprobs: Float32Array, logprobIds: Int32Array): void
  cpuInfo(): CpuInfo
  measureReadBandwidth(bytes: number, threads: number, reps: number): number
  /** With KILN_PROFILE=1: the steps' time per op kind since the last call (then cleared). */
  opProfile(): { enabled: boolean; decode: OpProfileTable; prefill: OpProfileTable }
  /** ggml block quantization of (rows, cols) floats; cols must be whole blocks (32, or 256 for K-quants). */
  quantize(type: NativeQuantType, src: Float32Array, rows: number, cols: number, threads: number): Uint8Array
  /** out (n, rows) = columns c0 … c0 + n − 1 of src (rows, cols), transposed; n = out.length / rows. */
  transposeF32(src: Float32Array, rows: number, cols: number, c0: number, out: Float32Array): void
  /**
   * The ONNX export's weight quantizers over the (K, M) view data[k · kStride + m · mStride], into
   * the caller's arrays (exact lengths), bit for bit the reference twins in
   * src/core/export/onnx/quantize-weights.ts. Blocks: packed ⌈K·M/2⌉, scale ⌈K/32⌉·M; columns:
   * packed M·⌈K/32⌉·16, scale M·⌈K/32⌉; int8: q K·M, scale and zero M.
   */
  quantizeInt4Blocks(
    data: Float32Array,
    K: number,
    M: number,
    kStride: number,
    mStride: number,
    packed: Uint8Array,
    scale: Float32Array,
  ): void
  quantizeInt4Columns(
    data: Float32Array,
    K: number,
    M: number,
    kStride: number,
    mStride: number,
    packed: Uint8Array,
    scale: Float32Array,
  ): void
  quantizeInt8Columns(
    data: Float32Array,
    K: number,
    M: number,
    kStride: number,
    mStride: number,
    signed: boolean,
    q: Uint8Array,
    scale: Float32Array,
    zero: Uint8Array,
  ): void
  /** The inverse of quantize: (rows, cols) floats from `bytes` blocks. */
  dequantize(
    type: NativeQuantType,
    bytes: Uint8Array,
    rows: number,
    cols: number,
    threads?: number,
  ): Float32Array
}

/** ggml block types the addon quantizes (see native/quant/quant_types.h). */
export type NativeQuantType = 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k' | 'q8_k' | 'q5_0' | 'q5_1' | 'q5_k'

let addon: NativeAddon | undefined

export function native(): NativeAddon {
  if (addon) return addon
  const here = path.dirname(fileURLToPath(import.meta.url))
  // src/core or dist/core -> project root
  const root = path.resolve(here, '..', '..')
  // KILN_NATIVE_ADDON names another build of the addon (npm run test:asan: the sanitizer build).
  const file = process.env.KILN_NATIVE_ADDON
    ? path.resolve(process.env.KILN_NATIVE_ADDON)
    : path.join(root, 'build', 'Release', 'kiln_native.node')
  if (!existsSync(file)) {
    const build = process.env.KILN_NATIVE_ADDON
      ? 'KILN_NATIVE_ADDON names no file'
      : 'run "npm run build:native"'
    throw new Error(`native addon not built (${file} missing): ${build}`)
  }
  const require = createRequire(import.meta.url)
  addon = require(file) as NativeAddon
  return addon
}
