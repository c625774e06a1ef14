// GGUF bytes in memory from metadata and tensor infos as parseGguf returns them, with nothing
// checked: the fuzz target writes what kiln's own writer refuses to (mistyped keys, duplicate
// names, offsets anywhere, dimensions of any size), to test the reader's and the model loader's
// checks rather than the writer's.
import type { GgufValue } from '../../src/core/formats/gguf-types.js'
import { GGUF_VALUE_TYPE_ID } from '../../src/core/formats/gguf-types.js'

export interface RawTensorInfo {
  name: string
  typeId: number
  dims: (number | bigint)[]
  offset: number | bigint
}

const SIZES: Record<string, number> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
}

class Out {
  private parts: Uint8Array[] = []
  length = 0
  push(b: Uint8Array): void {
    this.parts.push(b)
    this.length += b.length
  }
  u32(v: number): void {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, v >>> 0, true)
    this.push(b)
  }
  u64(v: number | bigint): void {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true)
    this.push(b)
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8')
    this.u64(bytes.length)
    this.push(bytes)
  }
  scalar(type: string, v: unknown): void {
    const b = new Uint8Array(SIZES[type])
    const d = new DataView(b.buffer)
    const n = typeof v === 'boolean' ? Number(v) : v
    switch (type) {
      case 'u8':
      case 'bool':
        d.setUint8(0, Number(n))
        break
      case 'i8':
        d.setInt8(0, Number(n))
        break
      case 'u16':
        d.setUint16(0, Number(n), true)
        break
      case 'i16':
        d.setInt16(0, Number(n), true)
        break
      case 'u32':
        d.setUint32(0, Number(n), true)
        break
      case 'i32':
        d.setInt32(0, Number(n), true)
        break
      case 'f32':
        d.setFloat32(0, Number(n), true)
        break
      case 'f64':
        d.setFloat64(0, Number(n), true)
        break
      case 'u64':
        d.setBigUint64(0, BigInt.asUintN(64, BigInt(Math.trunc(Number(n)) === n ? n : 0n)), true)
        break
      case 'i64':
        d.setBigInt64(0, BigInt.asIntN(64, BigInt(Math.trunc(Number(n)) === n ? n : 0n)), true)
        break
    }
    this.push(b)
  }
  value(v: GgufValue): void {
    if (v.type === 'string') {
      this.string(v.value)
      return
    }
    if (v.type !== 'array') {
      this.scalar(v.type, v.value)
      return
    }
    this.u32(GGUF_VALUE_TYPE_ID[v.itemType])
    const items = Array.from(v.value as ArrayLike<unknown>)
    this.u64(items.length)
    for (const item of items) {
      if (v.itemType === 'array') this.value(item as GgufValue)
      else if (v.itemType === 'string') this.string(String(item))
      else this.scalar(v.itemType, item)
    }
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length)
    let o = 0
    for (const p of this.parts) {
      out.set(p, o)
      o += p.length
    }
    return out
  }
}

export function encodeGguf(
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly RawTensorInfo[],
  data: Uint8Array,
  alignment = 32,
): Uint8Array {
  const out = new Out()
  out.push(Buffer.from('GGUF'))
  out.u32(3)
  out.u64(tensors.length)
  out.u64(metadata.length)
  for (const [key, value] of metadata) {
    out.string(key)
    out.u32(GGUF_VALUE_TYPE_ID[value.type])
    out.value(value)
  }
  for (const t of tensors) {
    out.string(t.name)
    out.u32(t.dims.length)
    for (const d of t.dims) out.u64(d)
    out.u32(t.typeId)
    out.u64(t.offset)
  }
  const pad = (alignment - (out.length % alignment)) % alignment
  out.push(new Uint8Array(pad))
  out.push(data)
  return out.bytes()
}
