import { FormatError, KilnError } from '../errors.js'
import { writeAll, writeFileAtomic } from '../util/files.js'
import {
  alignUp,
  GGML_TYPES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_MAX_NAME_BYTES,
  GGUF_VALUE_TYPE_ID,
  GGUF_VERSION,
  GGUF_WRITABLE_TYPES,
  type GgufValue,
  type GgufValueKind,
  type GgufWritableType,
  ggmlTensorBytes,
} from './gguf-types.js'

export interface GgufTensorToWrite {
  /** At most 63 UTF-8 bytes (llama.cpp's limit). */
  name: string
  type: GgufWritableType
  /** Row-major shape, slowest-varying first (the numpy / HF order); stored reversed (ggml order). */
  shape: readonly number[]
  /**
   * The tensor's little-endian bytes, or a function that yields them in chunks. A producer is
   * called once, while the file is written; each chunk is consumed before the next is requested,
   * so a producer may reuse one scratch buffer.
   */
  data: ArrayBufferView | (() => Iterable<ArrayBufferView>)
}

export interface GgufToWrite {
  /** Metadata in file order. `general.alignment` (u32, a power of two) sets the alignment. */
  metadata: Iterable<readonly [string, GgufValue]>
  /** Tensors in file order. */
  tensors: readonly GgufTensorToWrite[]
}

export interface WriteGgufOptions {
  /** Replace an existing file at `path`. Default false: an existing file is an error. */
  overwrite?: boolean
  /** Called before each tensor's data is written. */
  onTensor?: (event: { index: number; count: number; name: string; bytes: number }) => void
}

export interface WriteGgufResult {
  path: string
  /** File size. */
  bytes: number
  alignment: number
  /** Where the tensor data starts. */
  dataOffset: number
}

const MAX_U32 = 0xffffffff

/** Growable little-endian byte buffer for the header. */
class HeaderBuilder {
  private buf = new Uint8Array(1 << 16)
  private view = new DataView(this.buf.buffer)
  length = 0

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  u8(v: number): void {
    this.reserve(1)
    this.view.setUint8(this.length, v)
    this.length += 1
  }
  i8(v: number): void {
    this.reserve(1)
    this.view.setInt8(this.length, v)
    this.length += 1
  }
  u16(v: number): void {
    this.reserve(2)
    this.view.setUint16(this.length, v, true)
    this.length += 2
  }
  i16(v: number): void {
    this.reserve(2)
    this.view.setInt16(this.length, v, true)
    this.length += 2
  }
  u32(v: number): void {
    this.reserve(4)
    this.view.setUint32(this.length, v, true)
    this.length += 4
  }
  i32(v: number): void {
    this.reserve(4)
    this.view.setInt32(this.length, v, true)
    this.length += 4
  }
  f32(v: number): void {
    this.reserve(4)
    this.view.setFloat32(this.length, v, true)
    this.length += 4
  }
  f64(v: number): void {
    this.reserve(8)
    this.view.setFloat64(this.length, v, true)
    this.length += 8
  }
  u64(v: bigint): void {
    this.reserve(8)
    this.view.setBigUint64(this.length, v, true)
    this.length += 8
  }
  i64(v: bigint): void {
    this.reserve(8)
    this.view.setBigInt64(this.length, v, true)
    this.length += 8
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8')
    this.u64(BigInt(b.length))
    this.bytes(b)
  }
  zeros(n: number): void {
    this.reserve(n)
    this.buf.fill(0, this.length, this.length + n)
    this.length += n
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length)
  }
}

const INT_RANGE: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, MAX_U32],
  i32: [-0x80000000, 0x7fffffff],
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const U64_MAX = (1n << 64n) - 1n
const I64_MIN = -(1n << 63n)
const I64_MAX = (1n << 63n) - 1n

/** Encodes one scalar; `where` names it in messages. */
function writeScalar(h: HeaderBuilder, type: GgufValueKind, v: unknown, where: string): void {
  const bad = (want: string): FormatError => {
    const shown = typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)
    return new FormatError(`${where} must be ${want}, got ${shown}`)
  }
  switch (type) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32': {
      const [lo, hi] = INT_RANGE[type]
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(`a ${type} integer`)
      h[type](v as number)
      return
    }
    case 'f32':
    case 'f64':
      if (typeof v !== 'number') throw bad('a number')
      h[type](v as number)
      return
    case 'u64':
    case 'i64': {
      let b: bigint
      if (typeof v === 'bigint') b = v
      else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v)
      else throw bad(`a ${type} integer (a safe integer or a bigint)`)
      if (type === 'u64' ? b < 0n || b > U64_MAX : b < I64_MIN || b > I64_MAX) throw bad(`a ${type} integer`)
      h[type](b)
      return
    }
    case 'bool':
      if (typeof v !== 'boolean') throw bad('true or false')
      h.u8(v ? 1 : 0)
      return
    case 'string':
      if (typeof v !== 'string') throw bad('a string')
      if (LONE_SURROGATE.test(v as string)) throw bad('well-formed Unicode (it has a lone surrogate)')
      h.string(v as string)
      return
    default:
      throw new FormatError(`${where}: type "${type}" is not a scalar type`)
  }
}

function writeValue(h: HeaderBuilder, value: GgufValue, where: string, depth = 0): void {
  if (value === null || typeof value !== 'object' || !(value.type in GGUF_VALUE_TYPE_ID)) {
    throw new FormatError(`${where} must be a typed GGUF value like {type: 'u32', value: 1}`)
  }
  if (value.type !== 'array') {
    writeScalar(h, value.type, value.value, where)
    return
  }
  const { itemType, value: items } = value
  if (!(itemType in GGUF_VALUE_TYPE_ID)) {
    throw new FormatError(`${where}: unknown array item type "${String(itemType)}"`)
  }
  if (depth > 8) throw new FormatError(`${where}: arrays nested too deeply`)
  if (!Array.isArray(items) && !ArrayBuffer.isView(items)) {
    throw new FormatError(`${where}: an array value must be an array or a typed array`)
  }
  const list = items as ArrayLike<unknown>
  h.u32(GGUF_VALUE_TYPE_ID[itemType])
  h.u64(BigInt(list.length))
  if (itemType === 'array') {
    for (let i = 0; i < list.length; i++) writeValue(h, list[i] as GgufValue, `${where}[${i}]`, depth + 1)
    return
  }
  for (let i = 0; i < list.length; i++) writeScalar(h, itemType, list[i], `${where}[${i}]`)
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0
}

interface CheckedTensor {
  tensor: GgufTensorToWrite
  dims: number[]
  bytes: number
  offset: number
}

/** Writes `file` to `path` atomically. Every problem is a FormatError naming the path; no file is left behind. */
export function writeGguf(path: string, file: GgufToWrite, opts: WriteGgufOptions = {}): WriteGgufResult {
  function fail(problem: string): never {
    throw new FormatError(`${path}: cannot write GGUF: ${problem}`)
  }

  // Header: magic, version, counts, metadata, tensor infos.
  const meta = [...file.metadata]
  const keys = new Set<string>()
  let alignment = GGUF_DEFAULT_ALIGNMENT
  for (const [key, value] of meta) {
    if (typeof key !== 'string' || key === '') fail('metadata keys must be non-empty strings')
    if (keys.has(key)) fail(`duplicate metadata key "${key}"`)
    keys.add(key)
    if (key === 'general.alignment') {
      if (value?.type !== 'u32' || !isPowerOfTwo(value.value as number)) {
        fail(`"general.alignment" must be a u32 power of two, got ${JSON.stringify(value)}`)
      }
      alignment = value.value as number
    }
  }

  const names = new Set<string>()
  const checked: CheckedTensor[] = []
  let offset = 0
  for (const t of file.tensors) {
    if (typeof t.name !== 'string' || t.name === '') fail('tensor names must be non-empty strings')
    if (Buffer.byteLength(t.name, 'utf8') >= GGUF_MAX_NAME_BYTES) {
      fail(`tensor name "${t.name}" is longer than ${GGUF_MAX_NAME_BYTES - 1} bytes`)
    }
    if (names.has(t.name)) fail(`duplicate tensor name "${t.name}"`)
    names.add(t.name)
    if (!GGUF_WRITABLE_TYPES.includes(t.type)) {
      fail(`tensor "${t.name}" has type "${String(t.type)}" (writable: ${GGUF_WRITABLE_TYPES.join(', ')})`)
    }
    const shape = t.shape
    if (
      !Array.isArray(shape) ||
      shape.length === 0 ||
      shape.length > GGUF_MAX_DIMS ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      fail(
        `tensor "${t.name}" shape ${JSON.stringify(shape)} must be 1 to ${GGUF_MAX_DIMS} non-negative integers`,
      )
    }
    const dims = [...shape].reverse()
    const bytes = ggmlTensorBytes(t.type, dims)
    const block = GGML_TYPES[t.type].blockElements
    if (dims[0] % block !== 0) {
      fail(`tensor "${t.name}" rows of ${dims[0]} are not whole ${t.type} blocks of ${block} elements`)
    }
    if (bytes === undefined) fail(`tensor "${t.name}" shape [${shape.join(', ')}] is too large`)
    if (ArrayBuffer.isView(t.data) && t.data.byteLength !== bytes) {
      fail(
        `tensor "${t.name}" has ${t.data.byteLength} bytes but ${t.type} [${shape.join(', ')}] needs ${bytes}`,
      )
    }
    checked.push({ tensor: t, dims, bytes, offset })
    offset = alignUp(offset + bytes, alignment)
  }

  const h = new HeaderBuilder()
  h.u32(GGUF_MAGIC)
  h.u32(GGUF_VERSION)
  h.u64(BigInt(checked.length))
  h.u64(BigInt(meta.length))
  for (const [key, value] of meta) {
    h.string(key)
    h.u32(GGUF_VALUE_TYPE_ID[value?.type] ?? fail(`metadata "${key}" must be a typed GGUF value`))
    writeValue(h, value, `metadata "${key}"`)
  }
  for (const c of checked) {
    h.string(c.tensor.name)
    h.u32(c.dims.length)
    for (const d of c.dims) h.u64(BigInt(d))
    h.u32(GGML_TYPES[c.tensor.type].id)
    h.u64(BigInt(c.offset))
  }
  const dataOffset = alignUp(h.length, alignment)
  h.zeros(dataOffset - h.length)
  const header = h.result()

  try {
    writeFileAtomic(
      path,
      (fd) => {
        const out = new ChunkWriter(fd)
        out.write(header)
        let position = 0
        for (let i = 0; i < checked.length; i++) {
          const c = checked[i]
          opts.onTensor?.({ index: i, count: checked.length, name: c.tensor.name, bytes: c.bytes })
          const { data } = c.tensor
          const chunks = typeof data === 'function' ? data() : [data]
          let written = 0
          for (const chunk of chunks) {
            if (!ArrayBuffer.isView(chunk)) fail(`tensor "${c.tensor.name}" producer yielded a non-buffer`)
            written += chunk.byteLength
            if (written > c.bytes) break
            out.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
          }
          if (written !== c.bytes) {
            const got = written > c.bytes ? `more than ${c.bytes}` : String(written)
            fail(`tensor "${c.tensor.name}" data gave ${got} bytes, expected ${c.bytes}`)
          }
          position = c.offset + c.bytes
          const padded = alignUp(position, alignment)
          out.zeros(padded - position)
          position = padded
        }
        out.flush()
      },
      { overwrite: opts.overwrite === true },
    )
  } catch (e) {
    if (e instanceof KilnError) throw e
    fail(e instanceof Error ? e.message : String(e))
  }
  return { path, bytes: header.length + offset, alignment, dataOffset }
}

/** Batches small chunks into 1 MiB writes; large chunks go straight to the file. */
class ChunkWriter {
  private readonly buf = new Uint8Array(1 << 20)
  private used = 0
  constructor(private readonly fd: number) {}

  write(bytes: Uint8Array): void {
    if (bytes.byteLength >= this.buf.length / 2) {
      this.flush()
      writeAll(this.fd, bytes)
      return
    }
    if (this.used + bytes.byteLength > this.buf.length) this.flush()
    this.buf.set(bytes, this.used)
    this.used += bytes.byteLength
  }

  zeros(n: number): void {
    if (this.used + n > this.buf.length) this.flush()
    this.buf.fill(0, this.used, this.used + n)
    this.used += n
  }

  flush(): void {
    if (this.used > 0) writeAll(this.fd, this.buf.subarray(0, this.used))
    this.used = 0
  }
}
