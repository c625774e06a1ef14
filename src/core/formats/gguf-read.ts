// Reads a GGUF file (version 2 or 3): memory-maps it, validates header, metadata and tensor infos
// against the file's bounds, and exposes each tensor as a view into the mapping (no copy).

import { FormatError } from '../errors.js'
import { mapFileOrThrow } from '../util/files.js'
import { quote } from '../util/shown.js'
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_MAX_NAME_BYTES,
  GGUF_SCALAR_SIZE,
  GGUF_VALUE_KIND_BY_ID,
  type GgmlTypeName,
  type GgufArrayItems,
  type GgufValue,
  type GgufValueKind,
  ggmlTensorBytes,
  ggmlTypeName,
} from './gguf-types.js'

export interface GgufTensorInfo {
  name: string
  type: GgmlTypeName
  /** Dimensions in ggml order (fastest-varying first), as stored. */
  dims: number[]
  /** Row-major shape (slowest-varying first): `dims` reversed, the numpy / HF order. */
  shape: number[]
  /** Offset of the data from the start of the data section. */
  offset: number
  byteLength: number
  /** A view into the mapped file (read-only memory: never write to it). */
  data: Uint8Array
}

export interface GgufFile {
  path: string
  version: number
  alignment: number
  /** File offset of the data section. */
  dataOffset: number
  /** Metadata in file order. Numeric arrays are typed arrays; 64-bit integers are numbers when safe. */
  metadata: Map<string, GgufValue>
  /** Tensors in file order. */
  tensors: Map<string, GgufTensorInfo>
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const MAX_ARRAY_DEPTH = 8

/** Memory-maps `path` and validates it. Every problem becomes a FormatError naming the file. */
export function openGguf(path: string): GgufFile {
  return parseGguf(mapFileOrThrow(path), path)
}

/** The plain value of a metadata key (`file.metadata.get(key)?.value`), or undefined. */
export function ggufValue(file: GgufFile, key: string): GgufValue['value'] | undefined {
  return file.metadata.get(key)?.value
}

/** Validates a whole GGUF file held in `buffer`; `path` is only used in messages. */
export function parseGguf(buffer: ArrayBuffer, path: string): GgufFile {
  const r: Reader = new Reader(buffer, path)
  if (buffer.byteLength < 24)
    r.fail(`file is ${buffer.byteLength} bytes, shorter than the 24-byte GGUF header`)
  const magic = r.u32()
  if (magic !== GGUF_MAGIC) r.fail('not a GGUF file (the first four bytes are not "GGUF")')
  const version = r.u32()
  if (version !== 2 && version !== 3) r.fail(`GGUF version ${version} is not supported (supported: 2, 3)`)
  const tensorCount = r.count('tensor count', 8 + 4 + 8 + 4 + 8)
  const kvCount = r.count('metadata count', 8 + 4 + 1)

  const metadata = new Map<string, GgufValue>()
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key ${i}`)
    if (metadata.has(key)) r.fail(`duplicate metadata key ${quote(key)}`)
    const kind = r.kind(`metadata ${quote(key)}`)
    metadata.set(key, r.value(kind, `metadata ${quote(key)}`, 0))
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT
  const align = metadata.get('general.alignment')
  if (align !== undefined) {
    const n = align.value as number
    if (align.type !== 'u32' || n === 0 || (n & (n - 1)) !== 0) {
      r.fail(`"general.alignment" must be a u32 power of two, got ${align.type} ${String(align.value)}`)
    }
    alignment = n
  }

  interface Info {
    name: string
    type: GgmlTypeName
    dims: number[]
    offset: number
    byteLength: number
  }
  const infos: Info[] = []
  const names = new Set<string>()
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`tensor ${i} name`)
    const where = `tensor ${quote(name)}`
    if (Buffer.byteLength(name, 'utf8') >= GGUF_MAX_NAME_BYTES) {
      r.fail(`${where}: name is longer than ${GGUF_MAX_NAME_BYTES - 1} bytes`)
    }
    if (names.has(name)) r.fail(`duplicate tensor name ${quote(name)}`)
    names.add(name)
    const nDims = r.u32()
    if (nDims > GGUF_MAX_DIMS) r.fail(`${where} has ${nDims} dimensions (at most ${GGUF_MAX_DIMS})`)
    const dims: number[] = []
    for (let d = 0; d < nDims; d++) dims.push(r.u64Number(`${where} dimension ${d}`))
    const typeId = r.u32()
    const type = ggmlTypeName(typeId)
    if (type === undefined) r.fail(`${where} has unknown ggml type ${typeId}`)
    const byteLength = ggmlTensorBytes(type, dims)
    if (byteLength === undefined) {
      r.fail(`${where}: ${type} dims [${dims.join(', ')}] are not whole blocks or are too large`)
    }
    const offset = r.u64Number(`${where} offset`)
    if (offset % alignment !== 0)
      r.fail(`${where} offset ${offset} is not a multiple of the alignment ${alignment}`)
    infos.push({ name, type, dims, offset, byteLength })
  }

  const dataOffset = alignUp(r.pos, alignment)
  const size = buffer.byteLength
  const dataSize = Math.max(0, size - dataOffset)
  for (const t of infos) {
    if (t.offset + t.byteLength > dataSize) {
      r.fail(
        `tensor ${quote(t.name)} (${t.byteLength} bytes at data offset ${t.offset}) runs past the end of the file (${dataSize} data bytes)`,
      )
    }
  }
  const byOffset = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset)
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]
    if (byOffset[i].offset < prev.offset + prev.byteLength) {
      r.fail(`tensors ${quote(prev.name)} and ${quote(byOffset[i].name)} overlap`)
    }
  }

  const tensors = new Map<string, GgufTensorInfo>()
  for (const t of infos) {
    tensors.set(t.name, {
      ...t,
      shape: [...t.dims].reverse(),
      data: new Uint8Array(buffer, dataOffset + t.offset, t.byteLength),
    })
  }
  return { path, version, alignment, dataOffset, metadata, tensors }
}

/** A bounds-checked little-endian cursor. */
class Reader {
  pos = 0
  private readonly view: DataView
  private readonly bytes: Uint8Array

  constructor(
    private readonly buffer: ArrayBuffer,
    private readonly path: string,
  ) {
    this.view = new DataView(buffer)
    this.bytes = new Uint8Array(buffer)
  }

  fail(problem: string): never {
    throw new FormatError(`${this.path}: ${problem}`)
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buffer.byteLength) {
      this.fail(
        `truncated: ${what} needs ${n} bytes at offset ${this.pos} but the file is ${this.buffer.byteLength} bytes`,
      )
    }
  }

  u32(): number {
    this.need(4, 'a u32')
    const v = this.view.getUint32(this.pos, true)
    this.pos += 4
    return v
  }

  u64Number(what: string): number {
    this.need(8, what)
    const v = this.view.getBigUint64(this.pos, true)
    this.pos += 8
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`)
    return Number(v)
  }

  /** A u64 count of items that each need at least `minItemBytes`: bounded by what is left of the file. */
  count(what: string, minItemBytes: number): number {
    const n = this.u64Number(what)
    if (n * minItemBytes > this.buffer.byteLength - this.pos) {
      this.fail(`${what} ${n} cannot fit in the ${this.buffer.byteLength - this.pos} bytes that follow`)
    }
    return n
  }

  string(what: string): string {
    const len = this.u64Number(`${what} length`)
    this.need(len, what)
    let s: string
    try {
      s = utf8.decode(this.bytes.subarray(this.pos, this.pos + len))
    } catch {
      return this.fail(`${what} at offset ${this.pos} is not valid UTF-8`)
    }
    this.pos += len
    return s
  }

  kind(what: string): GgufValueKind {
    const id = this.u32()
    const kind = GGUF_VALUE_KIND_BY_ID[id]
    if (kind === undefined) this.fail(`${what} has unknown value type ${id}`)
    return kind
  }

  value(kind: GgufValueKind, what: string, depth: number): GgufValue {
    if (kind === 'array') return this.array(what, depth)
    if (kind === 'string') return { type: 'string', value: this.string(what) }
    const size = GGUF_SCALAR_SIZE[kind]
    this.need(size, what)
    const p = this.pos
    this.pos += size
    const v = this.view
    switch (kind) {
      case 'u8':
        return { type: kind, value: v.getUint8(p) }
      case 'i8':
        return { type: kind, value: v.getInt8(p) }
      case 'u16':
        return { type: kind, value: v.getUint16(p, true) }
      case 'i16':
        return { type: kind, value: v.getInt16(p, true) }
      case 'u32':
        return { type: kind, value: v.getUint32(p, true) }
      case 'i32':
        return { type: kind, value: v.getInt32(p, true) }
      case 'f32':
        return { type: kind, value: v.getFloat32(p, true) }
      case 'f64':
        return { type: kind, value: v.getFloat64(p, true) }
      case 'u64':
        return { type: kind, value: safe(v.getBigUint64(p, true)) }
      case 'i64':
        return { type: kind, value: safe(v.getBigInt64(p, true)) }
      case 'bool': {
        const b = v.getUint8(p)
        if (b > 1) this.fail(`${what}: bool byte is ${b}, not 0 or 1`)
        return { type: kind, value: b === 1 }
      }
    }
  }

  private array(what: string, depth: number): GgufValue {
    if (depth >= MAX_ARRAY_DEPTH) this.fail(`${what}: arrays nested more than ${MAX_ARRAY_DEPTH} deep`)
    const itemType = this.kind(`${what} array`)
    const fixed = itemType === 'string' || itemType === 'array' ? undefined : GGUF_SCALAR_SIZE[itemType]
    // A string item needs at least its 8-byte length; a nested array its 12-byte header.
    const n = this.count(`${what} array length`, fixed ?? (itemType === 'string' ? 8 : 12))
    if (fixed !== undefined && itemType !== 'bool') {
      const bytes = this.bytes.slice(this.pos, this.pos + n * fixed)
      this.pos += n * fixed
      return { type: 'array', itemType, value: typedArray(itemType, bytes.buffer, n) }
    }
    const items: unknown[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const item = this.value(itemType, `${what}[${i}]`, depth + 1)
      items[i] = itemType === 'array' ? item : item.value
    }
    return { type: 'array', itemType, value: items as GgufArrayItems }
  }
}

function safe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

/** The host is little-endian (as the addon assumes), so file bytes are reinterpreted in place. */
function typedArray(kind: GgufValueKind, buffer: ArrayBuffer, n: number): GgufArrayItems {
  switch (kind) {
    case 'u8':
      return new Uint8Array(buffer, 0, n)
    case 'i8':
      return new Int8Array(buffer, 0, n)
    case 'u16':
      return new Uint16Array(buffer, 0, n)
    case 'i16':
      return new Int16Array(buffer, 0, n)
    case 'u32':
      return new Uint32Array(buffer, 0, n)
    case 'i32':
      return new Int32Array(buffer, 0, n)
    case 'f32':
      return new Float32Array(buffer, 0, n)
    case 'f64':
      return new Float64Array(buffer, 0, n)
    case 'u64':
      return new BigUint64Array(buffer, 0, n)
    case 'i64':
      return new BigInt64Array(buffer, 0, n)
    default:
      throw new Error(`not a fixed-size numeric kind: ${kind}`)
  }
}
