import { FormatError } from '../errors.js'
import { writeAll, writeFileAtomic } from '../util/files.js'
import { DTYPE_SIZE, elementCount, isSafetensorsDType, type TensorToWrite } from './safetensors-types.js'

export function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): void {
  function fail(problem: string): never {
    throw new FormatError(`${path}: cannot write: ${problem}`)
  }
  const names = new Set<string>()
  for (const t of tensors) {
    if (typeof t.name !== 'string' || t.name === '') fail('tensor names must be non-empty strings')
    if (t.name === '__metadata__') fail('"__metadata__" is reserved and cannot name a tensor')
    if (names.has(t.name)) fail(`duplicate tensor name "${t.name}"`)
    names.add(t.name)
    if (!isSafetensorsDType(t.dtype)) fail(`tensor "${t.name}" has unknown dtype "${String(t.dtype)}"`)
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${t.name}" shape ${JSON.stringify(t.shape)} must be non-negative integers`)
    }
    const count = elementCount(t.shape)
    const need = count === undefined ? undefined : count * DTYPE_SIZE[t.dtype]
    if (need !== t.data.byteLength) {
      fail(
        `tensor "${t.name}" has ${t.data.byteLength} bytes but ${t.dtype} [${t.shape.join(', ')}] needs ${need}`,
      )
    }
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata value "${k}" must be a string`)
    }
  }

  // Stable sort: callers' order is kept within one element size.
  const order = tensors.slice().sort((a, b) => DTYPE_SIZE[b.dtype] - DTYPE_SIZE[a.dtype])
  const header: Record<string, unknown> = {}
  if (metadata !== undefined && Object.keys(metadata).length > 0) header['__metadata__'] = metadata
  let offset = 0
  for (const t of order) {
    const end = offset + t.data.byteLength
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] }
    offset = end
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8')
  const padded = Math.ceil(json.length / 8) * 8
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)])
  const prefix = Buffer.alloc(8)
  prefix.writeBigUInt64LE(BigInt(json.length))

  try {
    writeFileAtomic(path, (fd) => {
      writeAll(fd, prefix)
      writeAll(fd, json)
      for (const t of order) writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    })
  } catch (e) {
    if (e instanceof FormatError) throw e
    fail(e instanceof Error ? e.message : String(e))
  }
}
