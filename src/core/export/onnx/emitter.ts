// Building an ONNX graph node by node: every op gets a fresh output name, constants are made once
// and shared, and weights become initializers that keep their checkpoint names.
import { f32BitsToF16 } from '../../formats/float.js'
import { type AttrValue, attribute, type NodeProto, type OnnxType } from './proto.js'

/** A weight or constant: its bytes as ONNX stores them (little-endian, row-major). */
export interface Initializer {
  name: string
  type: OnnxType
  dims: number[]
  data: Uint8Array | LazyBytes
}

/**
 * Bytes made as they are written, in slabs, each valid until the next is asked for: a weight
 * transposed for ONNX is never all in memory a second time.
 */
export interface LazyBytes {
  byteLength: number
  slabs(): Iterable<Uint8Array>
}

/** An initializer's bytes in one array (made now when they are lazy). */
export function initializerBytes(data: Uint8Array | LazyBytes): Uint8Array {
  if (data instanceof Uint8Array) return data
  const out = new Uint8Array(data.byteLength)
  let at = 0
  for (const slab of data.slabs()) {
    out.set(slab, at)
    at += slab.byteLength
  }
  return out
}

export class OnnxEmitter {
  readonly nodes: NodeProto[] = []
  readonly initializers: Initializer[] = []
  private readonly names = new Set<string>()
  private readonly constants = new Map<string, string>()
  private count = 0

  /** A name not used yet in the graph, from `base`. */
  fresh(base: string): string {
    let name = base
    while (this.names.has(name)) name = `${base}_${++this.count}`
    this.names.add(name)
    return name
  }

  /** Adds a node; returns its (first) output's name. `out` names it, else it is `<opType>_n`. */
  op(
    opType: string,
    inputs: string[],
    attrs: Record<string, AttrValue> = {},
    out?: string,
    domain?: string,
  ): string {
    const output = this.fresh(out ?? `/${opType}`)
    this.nodes.push({
      opType,
      ...(domain ? { domain } : {}),
      name: `${output}/${opType}`,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    })
    return output
  }

  initializer(name: string, type: OnnxType, dims: number[], data: Uint8Array | LazyBytes): string {
    const n = this.fresh(name)
    this.initializers.push({ name: n, type, dims, data })
    return n
  }

  /** A shared int64 constant (Reshape shapes, Slice bounds, axes), 1-D or a scalar. */
  ints(values: number[], scalar = false): string {
    const key = `i64:${scalar ? 's' : ''}${values.join(',')}`
    let name = this.constants.get(key)
    if (!name) {
      const data = new BigInt64Array(values.map((v) => BigInt(v)))
      name = this.initializer(
        `/const/i64_${values.join('_').replace(/-/g, 'm')}`,
        'int64',
        scalar ? [] : [values.length],
        bytesOf(data),
      )
      this.constants.set(key, name)
    }
    return name
  }

  /** A shared float scalar constant, float32 or float16. */
  float(value: number, type: 'float' | 'float16' = 'float'): string {
    const key = `${type}:${value}`
    let name = this.constants.get(key)
    if (!name) {
      const f = new Float32Array([value])
      const data =
        type === 'float' ? bytesOf(f) : bytesOf(new Uint16Array([f32BitsToF16(new Uint32Array(f.buffer)[0])]))
      name = this.initializer(`/const/${type}_${this.constants.size}`, type, [], data)
      this.constants.set(key, name)
    }
    return name
  }

  /** Adds a node with `n` outputs; returns their names. */
  opN(
    opType: string,
    inputs: string[],
    n: number,
    attrs: Record<string, AttrValue> = {},
    domain?: string,
    names?: string[],
  ): string[] {
    const outputs = Array.from({ length: n }, (_, i) => this.fresh(names?.[i] ?? `/${opType}_out${i}`))
    this.nodes.push({
      opType,
      ...(domain ? { domain } : {}),
      name: `${outputs[0]}/${opType}`,
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    })
    return outputs
  }
}

export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
}
