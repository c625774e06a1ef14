// A PEFT LoRA adapter applied at load without merging: the base weights stay mapped as they are
// stored (any dtype, quantized GGUF blocks included) and each targeted matmul gains the adapter's
// branch, y = x·Wᵀ + b + (x·Aᵀ)·(scale·B)ᵀ, two thin matmuls of rank r in the same forward graph.
import { FormatError } from '../errors.js'
import { baseWeightName, type LoraAdapter } from '../formats/peft.js'
import type { ModelConfig } from '../models/config.js'
import { permuteRopeRows, ropePermutedHeads, type WeightLayout, type WeightView } from '../models/weights.js'
import { quote } from '../util/shown.js'
import { GraphBuilder, type GraphLimits, type TensorId } from './graph-builder.js'

/** One module's branch as the graph reads it: A (r, in), B (out, r) scaled and in the base's row order. */
interface Branch {
  module: string
  a: Float32Array
  b: Float32Array
  rank: number
  inFeatures: number
  outFeatures: number
}

/** An adapter matched to one base: its branches by the base weight's name. */
export interface AppliedAdapter {
  dir: string
  branches: Map<string, Branch>
}

/**
 * Matches the adapter's modules to the base's weights and lays each branch out as the base computes:
 * scale folded into B, and for llama.cpp's llama GGUF files B's rows permuted as q and k are.
 */
export function applyAdapter(
  adapter: LoraAdapter,
  weights: Map<string, WeightView>,
  config: ModelConfig,
  layout: WeightLayout,
): AppliedAdapter {
  const branches = new Map<string, Branch>()
  for (const [module, pair] of adapter.modules) {
    const weight = baseWeightName(module, (n) => weights.has(n))
    if (weight === undefined)
      throw new FormatError(
        `${adapter.dir}: adapter module ${quote(module)} has no weight in the base model (${config.architecture}); was it trained for another model?`,
      )
    let b: Float32Array = pair.b.map((x) => x * adapter.scale)
    if (ropePermutedHeads(module, config, layout) > 0)
      b = permuteRopeRows(b, pair.outFeatures, config.headDim, 'gguf')
    const { rank, inFeatures, outFeatures } = pair
    branches.set(weight, { module, a: pair.a, b, rank, inFeatures, outFeatures })
  }
  return { dir: adapter.dir, branches }
}

/**
 * The adapters a graph applies. One adapter `onEveryRow` adds its branch to every row. Otherwise
 * they are selectable per row: the graph's `types` input tags each row 0 (the base) or k (the k-th
 * adapter), and each adapted matmul runs the adapters' branches stacked, masked by the row's tag:
 * y = x·Wᵀ + b + ((x·[A₁;A₂;…]ᵀ) ⊙ mask[tag])·[B₁ B₂ …]ᵀ.
 */
export interface GraphAdapters {
  list: AppliedAdapter[]
  onEveryRow: boolean
}

export class LoraGraphBuilder extends GraphBuilder {
  /** Base weight → its branch's A and B tensors, once a matmul has read it. */
  private readonly used = new Map<string, [TensorId, TensorId, TensorId?]>()
  /** Row masks by the stacked layout (which adapters, their ranks), shared by the matmuls alike. */
  private readonly masks = new Map<string, TensorId>()

  constructor(
    limits: GraphLimits,
    private readonly adapters: GraphAdapters,
  ) {
    super(limits)
  }

  override matmul(name: string, x: TensorId, w: TensorId, bias?: TensorId, wKxM = false): TensorId {
    const base = super.matmul(name, x, w, bias, wKxM)
    const weight = this.tensors[w].name
    const hits = this.adapters.list.flatMap((adapter, k) => {
      const branch = adapter.branches.get(weight)
      return branch ? [{ adapter, branch, tag: k + 1 }] : []
    })
    if (hits.length === 0) return base
    const [rows, cols] = this.tensors[w].shape
    const [K, M] = wKxM ? [rows, cols] : [cols, rows]
    for (const { adapter, branch } of hits)
      if (branch.inFeatures !== K || branch.outFeatures !== M)
        throw new FormatError(
          `${adapter.dir}: adapter module ${quote(branch.module)} maps ${branch.inFeatures} → ${branch.outFeatures} features, the base's ${weight} maps ${K} → ${M}`,
        )
    let tensors = this.used.get(weight)
    if (!tensors) {
      const R = hits.reduce((sum, h) => sum + h.branch.rank, 0)
      const stackA = new Float32Array(R * K) // [A₁; A₂; …] (R, K)
      const stackB = new Float32Array(M * R) // [B₁ B₂ …] (M, R)
      let at = 0
      for (const { branch } of hits) {
        stackA.set(branch.a, at * K)
        for (let m = 0; m < M; m++)
          stackB.set(branch.b.subarray(m * branch.rank, (m + 1) * branch.rank), m * R + at)
        at += branch.rank
      }
      const label = hits.length === 1 ? hits[0].branch.module : weight.replace(/\.weight$/, '')
      tensors = [
        this.external(`${label}.lora_A.weight`, 'f32', [R, K], stackA),
        this.external(`${label}.lora_B.weight`, 'f32', [M, R], stackB),
        this.adapters.onEveryRow ? undefined : this.maskTable(hits.map((h) => [h.tag, h.branch.rank])),
      ]
      this.used.set(weight, tensors)
    }
    const [a, b, maskTable] = tensors
    let u = super.matmul(`${name}.lora_a`, x, a) // (N, R)
    if (maskTable !== undefined) u = this.mul(`${name}.lora_masked`, u, this.rowMask(maskTable, x))
    const z = super.matmul(`${name}.lora_b`, u, b) // (N, M), already scaled
    return this.add2(`${name}.lora`, base, z)
  }

  // (tags + 1, R): row t is 1 over the columns of adapter t's block, 0 elsewhere (row 0: the base).
  private maskTable(blocks: [tag: number, rank: number][]): TensorId {
    const tags = this.adapters.list.length + 1
    const R = blocks.reduce((sum, [, r]) => sum + r, 0)
    const table = new Float32Array(tags * R)
    let at = 0
    for (const [tag, rank] of blocks) {
      table.fill(1, tag * R + at, tag * R + at + rank)
      at += rank
    }
    return this.external(
      `lora.mask.${blocks.map(([t, r]) => `${t}x${r}`).join('.')}`,
      'f32',
      [tags, R],
      table,
    )
  }

  // (N, R): each row's mask, looked up by its tag once per layout (and per kind of rows).
  private rowMask(table: TensorId, x: TensorId): TensorId {
    const key = `${table}:${this.rowsOf(x)}`
    let mask = this.masks.get(key)
    if (mask === undefined) {
      const name = this.tensors[table].name
      mask = this.embedding(`${name}.rows`, table, this.types)
      if (this.rowsOf(x) !== this.rowsOf(mask)) mask = this.selectOutRows(`${name}.out_rows`, mask)
      this.masks.set(key, mask)
    }
    return mask
  }

  // (N, C) = a ⊙ b
  mul(name: string, a: TensorId, b: TensorId): TensorId {
    return this.node('mul', [a, b], this.act(name, this.rowsOf(a), this.cols(a)))
  }

  /** Throws when a module of an adapter matched a weight that no matmul of the model reads. */
  checkAllUsed(): void {
    for (const adapter of this.adapters.list)
      for (const [weight, branch] of adapter.branches)
        if (!this.used.has(weight))
          throw new FormatError(
            `${adapter.dir}: adapter module ${quote(branch.module)} targets ${weight}, which is not a linear layer kiln runs`,
          )
  }
}
