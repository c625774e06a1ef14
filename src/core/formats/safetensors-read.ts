// Reads one safetensors file: memory-maps it, validates the header against the spec, and exposes
// each tensor as a view into the mapping (no copy).

import { FormatError } from '../errors.js'
import { mapFileOrThrow } from '../util/files.js'
import { quote, shown } from '../util/shown.js'
import { findDuplicateKey } from './json-keys.js'
import {
  DTYPE_SIZE,
  elementCount,
  isSafetensorsDType,
  type SafetensorsFile,
  type TensorView,
} from './safetensors-types.js'

/** The largest header the spec allows. */
const MAX_HEADER_BYTES = 100_000_000

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

/** Memory-maps `path` and validates it. Every problem becomes a FormatError naming the file. */
export function openSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(mapFileOrThrow(path), path)
}

/** Validates a whole safetensors file held in `buffer`; `path` is only used in messages. */
function parseSafetensors(buffer: ArrayBuffer, path: string): SafetensorsFile {
  function fail(problem: string): never {
    throw new FormatError(`${path}: ${problem}`)
  }
  const size = buffer.byteLength
  if (size < 8) fail(`file is ${size} bytes, shorter than the 8-byte header length`)
  const headerLen64 = new DataView(buffer, 0, 8).getBigUint64(0, true)
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLen64} exceeds the limit of ${MAX_HEADER_BYTES} bytes`)
  }
  const headerLen = Number(headerLen64)
  if (8 + headerLen > size) {
    fail(`header length ${headerLen} is larger than the ${size - 8} bytes that follow it`)
  }

  let text: string
  try {
    text = utf8.decode(new Uint8Array(buffer, 8, headerLen))
  } catch {
    return fail('header is not valid UTF-8')
  }
  let header: unknown
  try {
    header = JSON.parse(text)
  } catch (e) {
    return fail(`header is not valid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (!isPlainObject(header)) {
    return fail(`header must be a JSON object, got ${Array.isArray(header) ? 'an array' : typeof header}`)
  }
  const dup = findDuplicateKey(text)
  if (dup) {
    if (dup.path.length === 0) fail(`header has duplicate tensor name ${quote(dup.key)}`)
    fail(`header has duplicate key ${quote(dup.key)} in ${quote(dup.path.join('.'))}`)
  }

  const metadata: Record<string, string> = {}
  const rawMeta = header['__metadata__']
  if (rawMeta !== undefined) {
    if (!isPlainObject(rawMeta)) fail('"__metadata__" must be an object of strings')
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`"__metadata__" value ${quote(k)} must be a string, got ${shown(v)}`)
      metadata[k] = v as string
    }
  }

  const dataStart = 8 + headerLen
  const dataLen = size - dataStart
  const tensors = new Map<string, TensorView>()
  const spans: { name: string; begin: number; end: number }[] = []

  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue
    const where = `tensor ${quote(name)}`
    if (!isPlainObject(entry)) fail(`${where} must be an object with dtype, shape and data_offsets`)
    const e = entry as Record<string, unknown>
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      if (e[field] === undefined) fail(`${where} is missing "${field}"`)
    }
    const { dtype, shape, data_offsets: offsets } = e
    if (typeof dtype !== 'string') fail(`${where} dtype must be a string, got ${shown(dtype)}`)
    if (!isSafetensorsDType(dtype)) {
      return fail(`${where} has unknown dtype ${quote(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')})`)
    }
    if (!Array.isArray(shape)) return fail(`${where} shape must be an array, got ${shown(shape)}`)
    for (const d of shape) {
      if (!isNonNegativeInteger(d)) {
        fail(`${where} shape ${shown(shape)} has ${shown(d)}: dims must be non-negative integers`)
      }
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      return fail(`${where} data_offsets must be an array [begin, end], got ${shown(offsets)}`)
    }
    const [begin, end] = offsets as unknown[]
    if (!isNonNegativeInteger(begin) || !isNonNegativeInteger(end)) {
      return fail(`${where} data_offsets ${shown(offsets)} must be non-negative integers`)
    }
    if (begin > end) fail(`${where} data_offsets [${begin}, ${end}] begin after end`)
    if (end > dataLen) {
      fail(`${where} data_offsets [${begin}, ${end}] end beyond the data section (${dataLen} bytes)`)
    }
    const count = elementCount(shape as number[])
    if (count === undefined) fail(`${where} shape ${shown(shape)} is too large`)
    const need = (count as number) * DTYPE_SIZE[dtype]
    if (end - begin !== need) {
      fail(
        `${where} data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} ` +
          `${shown(shape)} needs ${need}`,
      )
    }
    tensors.set(name, {
      name,
      dtype,
      shape: (shape as number[]).slice(),
      data: new Uint8Array(buffer, dataStart + begin, end - begin),
      file: path,
    })
    spans.push({ name, begin, end })
  }

  // The data section must be covered exactly once: no overlaps, no holes, nothing left over.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end)
  let cursor = 0
  let prev: (typeof spans)[number] | undefined
  for (const s of spans) {
    if (s.begin < cursor && prev) {
      fail(
        `tensors ${quote(prev.name)} [${prev.begin}, ${prev.end}] and ${quote(s.name)} [${s.begin}, ${s.end}] overlap`,
      )
    }
    if (s.begin > cursor) {
      fail(
        `hole in the data section: bytes [${cursor}, ${s.begin}) before tensor ${quote(s.name)} belong to no tensor`,
      )
    }
    cursor = s.end
    prev = s
  }
  if (cursor !== dataLen) {
    fail(`hole in the data section: bytes [${cursor}, ${dataLen}) at the end belong to no tensor`)
  }
  return { path, tensors, metadata }
}
