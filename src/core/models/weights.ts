// Checkpoint tensors as graph inputs: matrices are used in place from the mapped file (F32, F16 or
// BF16); vectors (norm weights, biases) are small and converted to f32 once at load.
import { FormatError } from '../errors.js'
import { type TensorView, toFloat32 } from '../formats/safetensors.js'
import type { NativeDType } from '../native.js'
import type { GraphBuilder, TensorId } from '../runtime/graph-builder.js'

const NATIVE_DTYPES: Record<string, NativeDType> = { F32: 'f32', F16: 'f16', BF16: 'bf16' }

export class WeightSet {
  private readonly ids = new Map<string, TensorId>()

  constructor(
    private readonly views: Map<string, TensorView>,
    private readonly g: GraphBuilder,
  ) {}

  has(name: string): boolean {
    return this.views.has(name)
  }

  /** The first of `names` the checkpoint has (GPT-2 files come with and without `transformer.`). */
  pick(...names: string[]): string {
    for (const n of names) if (this.views.has(n)) return n
    return names[0]
  }

  private view(name: string, shape: number[]): TensorView {
    const v = this.views.get(name)
    if (!v) throw new FormatError(`checkpoint is missing tensor "${name}"`)
    const same = v.shape.length === shape.length && v.shape.every((d, i) => d === shape[i])
    if (!same) {
      throw new FormatError(
        `${v.file}: tensor "${name}" has shape [${v.shape.join(', ')}], the config implies [${shape.join(', ')}]`,
      )
    }
    return v
  }

  /** A 2-D weight, read in place by the kernels. */
  matrix(name: string, shape: [number, number]): TensorId {
    const known = this.ids.get(name)
    if (known !== undefined) return known
    const v = this.view(name, shape)
    const dtype = NATIVE_DTYPES[v.dtype]
    if (!dtype)
      throw new FormatError(`${v.file}: tensor "${name}" is ${v.dtype}; kiln runs F32, F16 and BF16 weights`)
    const id = this.g.external(name, dtype, shape, v.data)
    this.ids.set(name, id)
    return id
  }

  /** A 1-D weight converted to f32 (norm scales, biases). */
  vector(name: string, length: number): TensorId {
    const known = this.ids.get(name)
    if (known !== undefined) return known
    const v = this.view(name, [length])
    if (!NATIVE_DTYPES[v.dtype])
      throw new FormatError(`${v.file}: tensor "${name}" is ${v.dtype}; expected a float type`)
    const id = this.g.external(name, 'f32', [length], toFloat32(v))
    this.ids.set(name, id)
    return id
  }

  optionalVector(name: string, length: number): TensorId | undefined {
    return this.has(name) ? this.vector(name, length) : undefined
  }
}
