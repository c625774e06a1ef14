// GGUF reader/writer: typed metadata round trips, layout (dims order, alignment, zero padding),
// streaming and atomic writes, and one test per malformed-file case the reader must reject.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FormatError } from '../../../src/core/errors.js'
import {
  GGUF_MAGIC,
  type GgufTensorToWrite,
  type GgufValue,
  gguf,
  openGguf,
  parseGguf,
  writeGguf,
} from '../../../src/core/formats/gguf.js'

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gguf-'))
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

let counter = 0
function tmpDir(): string {
  return mkdtempSync(path.join(tmp, `case-${counter++}-`))
}

function expectFormatError(fn: () => unknown, problem: RegExp | string): FormatError {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(FormatError)
  const e = err as FormatError
  if (typeof problem === 'string') expect(e.message).toContain(problem)
  else expect(e.message).toMatch(problem)
  return e
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)

const META: [string, GgufValue][] = [
  ['general.architecture', gguf.string('llama')],
  ['t.u8', gguf.u8(255)],
  ['t.i8', gguf.i8(-128)],
  ['t.u16', gguf.u16(65535)],
  ['t.i16', gguf.i16(-32768)],
  ['t.u32', gguf.u32(4294967295)],
  ['t.i32', gguf.i32(-2147483648)],
  ['t.f32', gguf.f32(1.5)],
  ['t.f64', gguf.f64(Math.PI)],
  ['t.u64', gguf.u64(2n ** 64n - 1n)],
  ['t.i64', gguf.i64(-5)],
  ['t.bool', gguf.bool(true)],
  ['t.str', gguf.string('héllo ▁ 🙂')],
  ['t.empty', gguf.string('')],
  ['t.arr.str', gguf.array('string', ['a', '', 'Ġb'])],
  ['t.arr.f32', gguf.array('f32', [0.5, -2])],
  ['t.arr.i32', gguf.array('i32', new Int32Array([1, -1, 6]))],
  ['t.arr.bool', gguf.array('bool', [true, false])],
  ['t.arr.u64', gguf.array('u64', [1n, 2n])],
  ['t.arr.nested', gguf.array('array', [gguf.array('u8', [1, 2]), gguf.array('string', ['x'])])],
]

describe('writer and reader', () => {
  it('round-trips every value type', () => {
    const file = path.join(tmpDir(), 'm.gguf')
    writeGguf(file, { metadata: META, tensors: [] })
    const g = openGguf(file)
    expect(g.version).toBe(3)
    expect([...g.metadata.keys()]).toEqual(META.map(([k]) => k))
    const v = (k: string) => g.metadata.get(k)!
    expect(v('t.u8')).toEqual({ type: 'u8', value: 255 })
    expect(v('t.i8').value).toBe(-128)
    expect(v('t.u16').value).toBe(65535)
    expect(v('t.i16').value).toBe(-32768)
    expect(v('t.u32').value).toBe(4294967295)
    expect(v('t.i32').value).toBe(-2147483648)
    expect(v('t.f32')).toEqual({ type: 'f32', value: 1.5 })
    expect(v('t.f64').value).toBe(Math.PI)
    expect(v('t.u64').value).toBe(2n ** 64n - 1n) // not a safe integer: stays a bigint
    expect(v('t.i64').value).toBe(-5)
    expect(v('t.bool').value).toBe(true)
    expect(v('t.str').value).toBe('héllo ▁ 🙂')
    expect(v('t.empty').value).toBe('')
    expect(v('t.arr.str')).toEqual({ type: 'array', itemType: 'string', value: ['a', '', 'Ġb'] })
    expect([...(v('t.arr.f32').value as Float32Array)]).toEqual([0.5, -2])
    expect(v('t.arr.i32').value).toBeInstanceOf(Int32Array)
    expect([...(v('t.arr.i32').value as Int32Array)]).toEqual([1, -1, 6])
    expect(v('t.arr.bool').value).toEqual([true, false])
    expect([...(v('t.arr.u64').value as BigUint64Array)]).toEqual([1n, 2n])
    const nested = v('t.arr.nested').value as GgufValue[]
    expect(nested[1]).toEqual({ type: 'array', itemType: 'string', value: ['x'] })
    expect([...(nested[0].value as Uint8Array)]).toEqual([1, 2])
  })

  it('writes dims in ggml order, aligned offsets and zero padding, and re-writes byte-identically', () => {
    const dir = tmpDir()
    const file = path.join(dir, 'm.gguf')
    const a = new Float32Array([1, 2, 3, 4, 5, 6]) // (2, 3)
    const b = new Uint16Array([0x3c00, 0x4000, 0x4200]) // F16 (3)
    const c = new Uint16Array(5 * 7).map((_, i) => i) // BF16 (5, 7)
    const res = writeGguf(file, {
      metadata: [
        ['general.architecture', gguf.string('llama')],
        ['general.alignment', gguf.u32(64)],
      ],
      tensors: [
        { name: 'a', type: 'F32', shape: [2, 3], data: a },
        { name: 'b', type: 'F16', shape: [3], data: b },
        { name: 'c', type: 'BF16', shape: [5, 7], data: c },
      ],
    })
    const buf = readFileSync(file)
    expect(buf.length).toBe(res.bytes)
    expect(buf.readUInt32LE(0)).toBe(GGUF_MAGIC)
    expect(buf.subarray(0, 4).toString('latin1')).toBe('GGUF')
    const g = openGguf(file)
    expect(g.alignment).toBe(64)
    expect(g.dataOffset % 64).toBe(0)
    expect(g.dataOffset).toBe(res.dataOffset)
    const ta = g.tensors.get('a')!
    expect(ta.dims).toEqual([3, 2])
    expect(ta.shape).toEqual([2, 3])
    expect(ta.type).toBe('F32')
    expect(Buffer.from(ta.data).equals(Buffer.from(bytesOf(a)))).toBe(true)
    expect(g.tensors.get('b')!.offset).toBe(64)
    expect(g.tensors.get('c')!.offset).toBe(128)
    expect(g.tensors.get('c')!.dims).toEqual([7, 5])
    // Padding between header and data, and between tensors, is zeros.
    expect(buf.subarray(g.dataOffset + 24, g.dataOffset + 64).every((x) => x === 0)).toBe(true)
    expect(buf.subarray(g.dataOffset + 64 + 6, g.dataOffset + 128).every((x) => x === 0)).toBe(true)
    // A view into the mapping, not a copy.
    expect(ta.data.buffer.byteLength).toBe(buf.length)

    const again = path.join(dir, 'again.gguf')
    writeGguf(again, {
      metadata: g.metadata,
      tensors: [...g.tensors.values()].map((t) => ({
        name: t.name,
        type: t.type as GgufTensorToWrite['type'],
        shape: t.shape,
        data: t.data,
      })),
    })
    expect(readFileSync(again).equals(buf)).toBe(true)
  })

  it('streams tensor data from a producer in chunks', () => {
    const file = path.join(tmpDir(), 'm.gguf')
    const rows = 3000
    const cols = 1000 // 12 MB of F32, produced a row at a time from one scratch buffer
    const scratch = new Float32Array(cols)
    function* produce() {
      for (let r = 0; r < rows; r++) {
        scratch.fill(r)
        yield scratch
      }
    }
    writeGguf(file, {
      metadata: [['general.architecture', gguf.string('llama')]],
      tensors: [{ name: 'big', type: 'F32', shape: [rows, cols], data: produce }],
    })
    const t = openGguf(file).tensors.get('big')!
    const f = new Float32Array(t.data.slice().buffer)
    expect(f.length).toBe(rows * cols)
    expect(f[0]).toBe(0)
    expect(f[1234 * cols + 7]).toBe(1234)
    expect(f[rows * cols - 1]).toBe(rows - 1)
  })

  it('leaves neither the file nor a temporary file behind when a producer fails', () => {
    const dir = tmpDir()
    const file = path.join(dir, 'm.gguf')
    function* failing() {
      yield new Float32Array(4)
      throw new FormatError('source went away')
    }
    expectFormatError(
      () =>
        writeGguf(file, {
          metadata: [],
          tensors: [{ name: 'x', type: 'F32', shape: [8], data: failing }],
        }),
      'source went away',
    )
    expect(readdirSync(dir)).toEqual([])
    // A producer giving the wrong byte count is caught too.
    expectFormatError(
      () =>
        writeGguf(file, {
          metadata: [],
          tensors: [{ name: 'x', type: 'F32', shape: [8], data: () => [new Float32Array(7)] }],
        }),
      'gave 28 bytes, expected 32',
    )
    expect(readdirSync(dir)).toEqual([])
  })

  it('refuses to replace an existing file unless asked', () => {
    const dir = tmpDir()
    const file = path.join(dir, 'm.gguf')
    writeFileSync(file, 'old')
    const spec = {
      metadata: [['general.architecture', gguf.string('gpt2')]] as [string, GgufValue][],
      tensors: [],
    }
    expectFormatError(() => writeGguf(file, spec), 'already exists')
    expect(readFileSync(file, 'utf8')).toBe('old')
    expect(readdirSync(dir)).toEqual(['m.gguf'])
    writeGguf(file, spec, { overwrite: true })
    expect(openGguf(file).metadata.get('general.architecture')!.value).toBe('gpt2')
    expect(readdirSync(dir)).toEqual(['m.gguf'])
  })

  it('rejects bad input to the writer', () => {
    const file = path.join(tmpDir(), 'm.gguf')
    const t = (over: Partial<GgufTensorToWrite>): GgufTensorToWrite => ({
      name: 'x',
      type: 'F32',
      shape: [2],
      data: new Float32Array(2),
      ...over,
    })
    const write =
      (metadata: [string, GgufValue][], tensors: GgufTensorToWrite[] = []) =>
      () =>
        writeGguf(file, { metadata, tensors })
    expectFormatError(write([['k', gguf.u8(256)]]), 'must be a u8 integer')
    expectFormatError(write([['k', gguf.u32(-1)]]), 'must be a u32 integer')
    expectFormatError(write([['k', gguf.u64(-1)]]), 'must be a u64 integer')
    expectFormatError(write([['k', gguf.i64(1.5)]]), 'must be a i64 integer')
    expectFormatError(write([['k', gguf.string('\ud800')]]), 'lone surrogate')
    expectFormatError(write([['k', gguf.array('i32', [1, 2.5])]]), 'metadata "k"[1] must be a i32 integer')
    expectFormatError(
      write([
        ['k', gguf.u8(1)],
        ['k', gguf.u8(2)],
      ]),
      'duplicate metadata key "k"',
    )
    expectFormatError(write([['general.alignment', gguf.u32(24)]]), 'power of two')
    expectFormatError(write([], [t({}), t({})]), 'duplicate tensor name "x"')
    expectFormatError(write([], [t({ name: 'n'.repeat(64) })]), 'longer than 63 bytes')
    expectFormatError(write([], [t({ shape: [1, 1, 1, 1, 2] })]), '1 to 4 non-negative integers')
    expectFormatError(write([], [t({ shape: [3] })]), 'has 8 bytes but F32 [3] needs 12')
    expectFormatError(
      write([], [t({ type: 'Q5_K' as 'F32' })]),
      'writable: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K',
    )
    expectFormatError(
      write([], [t({ type: 'Q8_0', shape: [2, 3] })]),
      'rows of 3 are not whole Q8_0 blocks of 32',
    )
    expect(existsSync(file)).toBe(false)
  })
})

/** A small valid file, and helpers to corrupt it at known offsets. */
function validFile(): { buf: Buffer; tensorInfoAt: number } {
  const file = path.join(tmpDir(), 'ok.gguf')
  writeGguf(file, {
    metadata: [['general.architecture', gguf.string('llama')]],
    tensors: [
      { name: 'w', type: 'F32', shape: [2, 4], data: new Float32Array(8) },
      { name: 'v', type: 'F16', shape: [4], data: new Uint16Array(4) },
    ],
  })
  const buf = readFileSync(file)
  // header 24 + key (8 + 20) + type 4 + string (8 + 5)
  return { buf, tensorInfoAt: 24 + 8 + 20 + 4 + 8 + 5 }
}

describe('reader rejects malformed files', () => {
  const parse = (buf: Buffer) => () =>
    parseGguf(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer, 'bad.gguf')

  it('accepts the unmodified file', () => {
    const { buf } = validFile()
    const g = parse(buf)()
    expect([...g.tensors.keys()]).toEqual(['w', 'v'])
  })

  it('short files, bad magic, unsupported versions', () => {
    expectFormatError(parse(Buffer.alloc(10)), 'shorter than the 24-byte GGUF header')
    const { buf } = validFile()
    const magic = Buffer.from(buf)
    magic.write('GGML', 0, 'latin1')
    expectFormatError(parse(magic), 'not a GGUF file')
    const v1 = Buffer.from(buf)
    v1.writeUInt32LE(1, 4)
    expectFormatError(parse(v1), 'GGUF version 1 is not supported')
  })

  it('counts and lengths that run past the end', () => {
    const { buf, tensorInfoAt } = validFile()
    const kv = Buffer.from(buf)
    kv.writeBigUInt64LE(1n << 40n, 16)
    expectFormatError(parse(kv), /metadata count \d+ cannot fit/)
    const tc = Buffer.from(buf)
    tc.writeBigUInt64LE(1000n, 8)
    expectFormatError(parse(tc), /tensor count 1000 cannot fit/)
    const keyLen = Buffer.from(buf)
    keyLen.writeBigUInt64LE(1n << 50n, 24)
    expectFormatError(parse(keyLen), 'truncated')
    expectFormatError(parse(buf.subarray(0, tensorInfoAt + 10)), /truncated|cannot fit/)
    expectFormatError(parse(buf.subarray(0, tensorInfoAt + 40)), 'truncated')
  })

  it('unknown value types, bad UTF-8, bad bools, duplicate keys', () => {
    const { buf } = validFile()
    const vt = Buffer.from(buf)
    vt.writeUInt32LE(13, 24 + 8 + 20)
    expectFormatError(parse(vt), 'unknown value type 13')
    const utf = Buffer.from(buf)
    utf[24 + 8] = 0xff
    expectFormatError(parse(utf), 'not valid UTF-8')

    const file = path.join(tmpDir(), 'b.gguf')
    writeGguf(file, {
      metadata: [
        ['a', gguf.bool(true)],
        ['b', gguf.bool(false)],
      ],
      tensors: [],
    })
    const b = readFileSync(file)
    const badBool = Buffer.from(b)
    badBool[24 + 8 + 1 + 4] = 2
    expectFormatError(parse(badBool), 'bool byte is 2')
    const dup = Buffer.from(b)
    dup.write('a', 24 + 8 + 1 + 4 + 1 + 8, 'latin1')
    expectFormatError(parse(dup), 'duplicate metadata key "a"')
  })

  it('tensor infos: dims, types, offsets, bounds, overlap, names', () => {
    const { buf, tensorInfoAt } = validFile()
    const nameLen = 8 + 1 // "w"
    const nDimsAt = tensorInfoAt + nameLen
    const typeAt = nDimsAt + 4 + 16
    const offsetAt = typeAt + 4
    const second = offsetAt + 8 // tensor "v"
    const secondOffsetAt = second + 9 + 4 + 8 + 4

    const dims = Buffer.from(buf)
    dims.writeUInt32LE(5, nDimsAt)
    expectFormatError(parse(dims), 'has 5 dimensions')
    const type = Buffer.from(buf)
    type.writeUInt32LE(99, typeAt)
    expectFormatError(parse(type), 'unknown ggml type 99')
    const q = Buffer.from(buf)
    q.writeUInt32LE(8, typeAt) // Q8_0 needs whole 32-element blocks; dims[0] is 4
    expectFormatError(parse(q), 'not whole blocks')
    const misaligned = Buffer.from(buf)
    misaligned.writeBigUInt64LE(8n, offsetAt)
    expectFormatError(parse(misaligned), 'not a multiple of the alignment 32')
    const past = Buffer.from(buf)
    past.writeBigUInt64LE(1024n, secondOffsetAt)
    expectFormatError(parse(past), /tensor "v" .* runs past the end/)
    const overlap = Buffer.from(buf)
    overlap.writeBigUInt64LE(0n, secondOffsetAt)
    expectFormatError(parse(overlap), 'tensors "w" and "v" overlap')
    const dupName = Buffer.from(buf)
    dupName.write('w', second + 8, 'latin1')
    expectFormatError(parse(dupName), 'duplicate tensor name "w"')
    const huge = Buffer.from(buf)
    huge.writeBigUInt64LE(1n << 60n, nDimsAt + 4)
    expectFormatError(parse(huge), /too large/)
    expectFormatError(parse(buf.subarray(0, buf.length - 40)), 'runs past the end')
  })

  it('bad alignment', () => {
    const file = path.join(tmpDir(), 'a.gguf')
    writeGguf(file, { metadata: [['general.alignment', gguf.u32(16)]], tensors: [] })
    const b = Buffer.from(readFileSync(file))
    b.writeUInt32LE(12, 24 + 8 + 17 + 4)
    expectFormatError(parse(b), '"general.alignment" must be a u32 power of two')
  })

  it('names the file in errors from openGguf', () => {
    const file = path.join(tmpDir(), 'junk.gguf')
    writeFileSync(file, Buffer.alloc(100, 1))
    const e = expectFormatError(() => openGguf(file), 'not a GGUF file')
    expect(e.message).toContain(file)
    expectFormatError(() => openGguf(path.join(tmpDir(), 'missing.gguf')), 'missing.gguf')
  })
})
