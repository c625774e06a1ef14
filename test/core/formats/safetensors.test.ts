// safetensors reader/writer: the golden fixtures, round trips, sharded checkpoints, and one test per
// malformed-file case the spec says a reader must reject.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FormatError } from '../../../src/core/errors.js'
import {
  asFloat32,
  DTYPE_SIZE,
  openCheckpoint,
  openSafetensors,
  type SafetensorsDType,
  type TensorView,
  toFloat32,
  writeSafetensors,
} from '../../../src/core/formats/safetensors.js'
import { GOLDEN } from '../../helpers/fixtures.js'

const MODELS = ['llama-tiny', 'llama-tiny-bf16', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny', 'bert-tiny']

let tmp: string
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-safetensors-'))
})
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
})

let counter = 0
function tmpPath(name = 'model.safetensors'): string {
  const dir = path.join(tmp, `case-${counter++}`)
  return path.join(mkdtempSync(dir), name)
}

/** A file with the given header text (or object) and data bytes, header length optionally forged. */
function rawFile(header: string | object, data: Uint8Array | number = 0, headerLen?: bigint): string {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8')
  const prefix = Buffer.alloc(8)
  prefix.writeBigUInt64LE(headerLen ?? BigInt(json.length))
  const body = typeof data === 'number' ? new Uint8Array(data) : data
  const p = tmpPath()
  writeFileSync(p, Buffer.concat([prefix, json, body]))
  return p
}

function expectFormatError(fn: () => unknown, file: string, problem: RegExp | string): FormatError {
  let err: unknown
  try {
    fn()
  } catch (e) {
    err = e
  }
  expect(err).toBeInstanceOf(FormatError)
  const e = err as FormatError
  expect(e.code).toBe('E_FORMAT')
  expect(e.message).toContain(file)
  if (typeof problem === 'string') expect(e.message).toContain(problem)
  else expect(e.message).toMatch(problem)
  return e
}

interface HeaderEntry {
  dtype: SafetensorsDType
  shape: number[]
  data_offsets: [number, number]
}

/** Independent parse with Node buffers, to check the reader against. */
function plainParse(file: string) {
  const buf = readFileSync(file)
  const n = Number(buf.readBigUInt64LE(0))
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, HeaderEntry>
  return { buf, n, header }
}

const f32 = (values: number[]) => new Float32Array(values)

describe('golden fixtures', () => {
  for (const model of MODELS) {
    it(`reads ${model}/model.safetensors and golden.safetensors`, () => {
      for (const name of ['model.safetensors', 'golden.safetensors']) {
        const file = path.join(GOLDEN, model, name)
        const st = openSafetensors(file)
        const { buf, n, header } = plainParse(file)
        const names = Object.keys(header).filter((k) => k !== '__metadata__')
        expect([...st.tensors.keys()].sort()).toEqual(names.sort())
        expect(st.metadata).toEqual((header.__metadata__ as unknown) ?? {})
        for (const t of st.tensors.values()) {
          const h = header[t.name]
          expect(t.dtype).toBe(h.dtype)
          expect(t.shape).toEqual(h.shape)
          expect(t.file).toBe(file)
          expect(t.data.byteLength).toBe(t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype])
          // A view into the mapping, not a copy: its buffer is the whole file.
          expect(t.data.buffer.byteLength).toBe(buf.length)
          const [b, e] = h.data_offsets
          expect(Buffer.from(t.data).equals(buf.subarray(8 + n + b, 8 + n + e))).toBe(true)
        }
      }
    })
  }

  it('has the shapes the configs imply', () => {
    const cfg = JSON.parse(readFileSync(path.join(GOLDEN, 'llama-tiny', 'config.json'), 'utf8'))
    const w = openCheckpoint(path.join(GOLDEN, 'llama-tiny'))
    expect(w.get('model.embed_tokens.weight')!.shape).toEqual([cfg.vocab_size, cfg.hidden_size])
    expect(w.get('model.layers.0.self_attn.k_proj.weight')!.shape).toEqual([
      cfg.num_key_value_heads * cfg.head_dim,
      cfg.hidden_size,
    ])
    const gpt2 = openCheckpoint(path.join(GOLDEN, 'gpt2-tiny'))
    const c = [...gpt2.keys()].find((k) => k.endsWith('h.0.attn.c_attn.weight'))!
    expect(gpt2.get(c)!.shape).toEqual([64, 192]) // Conv1D (in, out)
  })

  it('converts F32 and BF16 to float32', () => {
    const a = openSafetensors(path.join(GOLDEN, 'llama-tiny', 'model.safetensors')).tensors
    const b = openSafetensors(path.join(GOLDEN, 'llama-tiny-bf16', 'model.safetensors')).tensors
    for (const name of ['model.norm.weight', 'model.layers.1.mlp.up_proj.weight']) {
      const x = a.get(name)!
      const view = asFloat32(x)
      expect(view.buffer).toBe(x.data.buffer) // aligned: no copy
      const copy = toFloat32(x)
      expect(copy.buffer).not.toBe(x.data.buffer)
      expect(Array.from(copy)).toEqual(Array.from(view))
      expect(view[0]).toBe(Buffer.from(x.data).readFloatLE(0))
      // The bf16 fixture holds the float32 weights rounded to bfloat16.
      const y = toFloat32(b.get(name)!)
      expect(y.length).toBe(view.length)
      for (let i = 0; i < y.length; i++)
        expect(Math.abs(y[i] - view[i])).toBeLessThanOrEqual(Math.abs(view[i]) / 256)
    }
    expect(() => asFloat32(b.get('model.norm.weight')!)).toThrow(/is BF16, not F32/)
  })
})

describe('writeSafetensors', () => {
  it('round-trips every dtype, metadata, empty and 0-rank tensors', () => {
    const p = tmpPath()
    const tensors = [
      { name: 'a.f32', dtype: 'F32' as const, shape: [2, 3], data: f32([1, 2, 3, 4, 5, -6.5]) },
      { name: 'b.f16', dtype: 'F16' as const, shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3555]) },
      { name: 'c.bf16', dtype: 'BF16' as const, shape: [1, 2], data: new Uint16Array([0x3f80, 0xc040]) },
      { name: 'd.i64', dtype: 'I64' as const, shape: [2], data: new BigInt64Array([-1n, 2n ** 40n]) },
      { name: 'e.u8', dtype: 'U8' as const, shape: [5], data: new Uint8Array([1, 2, 3, 4, 5]) },
      { name: 'f.bool', dtype: 'BOOL' as const, shape: [1], data: new Uint8Array([1]) },
      { name: 'g.empty', dtype: 'F32' as const, shape: [0, 4], data: new Float32Array(0) },
      { name: 'h.scalar', dtype: 'F64' as const, shape: [], data: new Float64Array([Math.PI]) },
      { name: 'i.i16', dtype: 'I16' as const, shape: [3], data: new Int16Array([-3, 0, 3]) },
      { name: 'j.f8', dtype: 'F8_E4M3' as const, shape: [2], data: new Uint8Array([0x38, 0xb8]) },
    ]
    writeSafetensors(p, tensors, { format: 'pt', note: 'ünïcode' })
    const { n, header } = plainParse(p)
    expect(n % 8).toBe(0)
    const st = openSafetensors(p)
    expect(st.metadata).toEqual({ format: 'pt', note: 'ünïcode' })
    expect(st.tensors.size).toBe(tensors.length)
    for (const t of tensors) {
      const v = st.tensors.get(t.name)!
      expect(v.dtype).toBe(t.dtype)
      expect(v.shape).toEqual(t.shape)
      expect(
        Buffer.from(v.data).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)),
      ).toBe(true)
      // Every tensor starts aligned to its element size (data section starts at a multiple of 8).
      expect(header[t.name].data_offsets[0] % DTYPE_SIZE[t.dtype]).toBe(0)
    }
    expect(Array.from(toFloat32(st.tensors.get('b.f16')!))).toEqual([1, -2, Math.fround(0.33325195)])
    expect(Array.from(toFloat32(st.tensors.get('c.bf16')!))).toEqual([1, -3])
    expect(Array.from(asFloat32(st.tensors.get('a.f32')!))).toEqual([1, 2, 3, 4, 5, -6.5])
    expect(readdirSync(path.dirname(p))).toEqual(['model.safetensors']) // no temporary left behind
  })

  it('replaces an existing file and writes views with an offset', () => {
    const p = tmpPath()
    writeSafetensors(p, [{ name: 'x', dtype: 'F32', shape: [1], data: f32([1]) }])
    const backing = f32([9, 8, 7, 6])
    writeSafetensors(p, [{ name: 'y', dtype: 'F32', shape: [2], data: backing.subarray(1, 3) }])
    const st = openSafetensors(p)
    expect([...st.tensors.keys()]).toEqual(['y'])
    expect(Array.from(asFloat32(st.tensors.get('y')!))).toEqual([8, 7])
    expect(readdirSync(path.dirname(p))).toEqual(['model.safetensors'])
  })

  it('refuses inconsistent input', () => {
    const p = tmpPath()
    expectFormatError(
      () => writeSafetensors(p, [{ name: 'x', dtype: 'F32', shape: [3], data: f32([1, 2]) }]),
      p,
      'tensor "x" has 8 bytes but F32 [3] needs 12',
    )
    expectFormatError(
      () =>
        writeSafetensors(p, [
          { name: 'x', dtype: 'F32', shape: [1], data: f32([1]) },
          { name: 'x', dtype: 'F32', shape: [1], data: f32([2]) },
        ]),
      p,
      'duplicate tensor name "x"',
    )
    expectFormatError(
      () =>
        writeSafetensors(p, [{ name: 'x', dtype: 'F33' as SafetensorsDType, shape: [1], data: f32([1]) }]),
      p,
      'unknown dtype "F33"',
    )
    expect(readdirSync(path.dirname(p))).toEqual([])
  })

  it('exposes unaligned data as a view, and asFloat32 copies it', () => {
    // Header of 2 + 8k bytes: the data section starts 2 bytes off a multiple of 4.
    let header = JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } })
    while ((8 + header.length) % 4 !== 2) header += ' '
    const p = rawFile(header, new Uint8Array(f32([1.5, -2]).buffer))
    const v = openSafetensors(p).tensors.get('w')!
    expect(v.data.byteOffset % 4).toBe(2)
    const a = asFloat32(v)
    expect(a.buffer).not.toBe(v.data.buffer)
    expect(Array.from(a)).toEqual([1.5, -2])
    expect(Array.from(toFloat32(v))).toEqual([1.5, -2])
  })
})

describe('openCheckpoint', () => {
  function twoShards(dir: string) {
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [2], data: f32([1, 2]) },
      { name: 'b', dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
    ])
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [
      { name: 'c', dtype: 'F32', shape: [1, 1], data: f32([3]) },
    ])
  }
  const index = (weightMap: unknown) =>
    JSON.stringify({ metadata: { total_size: 14 }, weight_map: weightMap })
  const goodMap = {
    a: 'model-00001-of-00002.safetensors',
    b: 'model-00001-of-00002.safetensors',
    c: 'model-00002-of-00002.safetensors',
  }

  it('reads a sharded checkpoint through its index, opening each shard once', () => {
    const dir = path.dirname(tmpPath())
    twoShards(dir)
    writeFileSync(path.join(dir, 'model.safetensors.index.json'), index(goodMap))
    const w = openCheckpoint(dir)
    expect([...w.keys()]).toEqual(['a', 'b', 'c'])
    expect(Array.from(toFloat32(w.get('a')!))).toEqual([1, 2])
    expect(Array.from(toFloat32(w.get('b')!))).toEqual([1])
    expect(w.get('c')!.file).toBe(path.join(dir, 'model-00002-of-00002.safetensors'))
    expect(w.get('a')!.data.buffer).toBe(w.get('b')!.data.buffer)
  })

  it('reads model.safetensors, a lone *.safetensors file, or a file path', () => {
    const p = tmpPath('weights.safetensors')
    writeSafetensors(p, [{ name: 'z', dtype: 'F32', shape: [1], data: f32([4]) }])
    expect([...openCheckpoint(path.dirname(p)).keys()]).toEqual(['z'])
    expect([...openCheckpoint(p).keys()]).toEqual(['z'])
    expect(openCheckpoint(path.join(GOLDEN, 'llama-tiny')).size).toBe(21) // 2 layers × 9 + embed, norm, head
  })

  it('rejects an index without weight_map', () => {
    const dir = path.dirname(tmpPath())
    twoShards(dir)
    const idx = path.join(dir, 'model.safetensors.index.json')
    writeFileSync(idx, JSON.stringify({ metadata: {} }))
    expectFormatError(() => openCheckpoint(dir), idx, 'missing "weight_map"')
    writeFileSync(idx, '{"weight_map": ')
    expectFormatError(() => openCheckpoint(dir), idx, 'not valid JSON')
    writeFileSync(idx, index(['a']))
    expectFormatError(() => openCheckpoint(dir), idx, '"weight_map" must be an object')
  })

  it('rejects an index naming a missing shard', () => {
    const dir = path.dirname(tmpPath())
    twoShards(dir)
    const idx = path.join(dir, 'model.safetensors.index.json')
    writeFileSync(idx, index({ ...goodMap, d: 'model-00003-of-00003.safetensors' }))
    expectFormatError(
      () => openCheckpoint(dir),
      idx,
      'shard "model-00003-of-00003.safetensors" (holding "d") is missing',
    )
    writeFileSync(idx, index({ a: '../elsewhere.safetensors' }))
    expectFormatError(() => openCheckpoint(dir), idx, 'outside the model folder')
  })

  it('rejects an index listing a tensor its shard lacks', () => {
    const dir = path.dirname(tmpPath())
    twoShards(dir)
    const idx = path.join(dir, 'model.safetensors.index.json')
    writeFileSync(idx, index({ ...goodMap, c: 'model-00001-of-00002.safetensors' }))
    expectFormatError(
      () => openCheckpoint(dir),
      idx,
      'tensor "c" is mapped to "model-00001-of-00002.safetensors" but that shard does not contain it',
    )
  })

  it('rejects folders with no weights or several unindexed files', () => {
    const dir = path.dirname(tmpPath())
    expectFormatError(() => openCheckpoint(dir), dir, 'no weights found')
    twoShards(dir)
    expectFormatError(() => openCheckpoint(dir), dir, 'no model.safetensors.index.json')
    expectFormatError(() => openCheckpoint(path.join(dir, 'nope')), path.join(dir, 'nope'), 'cannot read')
  })
})

describe('malformed files', () => {
  const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets })

  it('file shorter than 8 bytes', () => {
    const p = tmpPath()
    writeFileSync(p, Buffer.from([1, 0, 0]))
    expectFormatError(() => openSafetensors(p), p, 'file is 3 bytes, shorter than the 8-byte header length')
    writeFileSync(p, Buffer.alloc(0))
    expectFormatError(() => openSafetensors(p), p, 'file is 0 bytes')
  })

  it('missing file', () => {
    const p = path.join(tmp, 'does-not-exist.safetensors')
    expectFormatError(() => openSafetensors(p), p, 'cannot open')
  })

  it('header length larger than the file', () => {
    const p = rawFile({}, 0, 1000n)
    expectFormatError(
      () => openSafetensors(p),
      p,
      'header length 1000 is larger than the 2 bytes that follow it',
    )
  })

  it('header length over 100,000,000', () => {
    const p = rawFile({}, 0, 100_000_001n)
    expectFormatError(() => openSafetensors(p), p, 'exceeds the limit of 100000000 bytes')
    const q = rawFile({}, 0, 2n ** 64n - 1n)
    expectFormatError(() => openSafetensors(q), q, 'exceeds the limit')
  })

  it('header not valid UTF-8', () => {
    const json = Buffer.from('{"a\xff": 1}', 'latin1')
    const prefix = Buffer.alloc(8)
    prefix.writeBigUInt64LE(BigInt(json.length))
    const p = tmpPath()
    writeFileSync(p, Buffer.concat([prefix, json]))
    expectFormatError(() => openSafetensors(p), p, 'header is not valid UTF-8')
  })

  it('header not JSON', () => {
    const p = rawFile('{"w": {"dtype": "F32",')
    expectFormatError(() => openSafetensors(p), p, 'header is not valid JSON')
  })

  it('header not an object', () => {
    const p = rawFile('[1, 2]')
    expectFormatError(() => openSafetensors(p), p, 'header must be a JSON object, got an array')
    const q = rawFile('"x"')
    expectFormatError(() => openSafetensors(q), q, 'header must be a JSON object, got string')
  })

  for (const field of ['dtype', 'shape', 'data_offsets']) {
    it(`entry missing ${field}`, () => {
      const e: Record<string, unknown> = entry('F32', [1], [0, 4])
      delete e[field]
      const p = rawFile({ w: e }, 4)
      expectFormatError(() => openSafetensors(p), p, `tensor "w" is missing "${field}"`)
    })
  }

  it('entry with wrong types', () => {
    const cases: [unknown, string][] = [
      ['not an object', 'tensor "w" must be an object'],
      [{ dtype: 7, shape: [1], data_offsets: [0, 4] }, 'tensor "w" dtype must be a string'],
      [entry('F32', '1', [0, 4]), 'tensor "w" shape must be an array'],
      [entry('F32', [1], [0, 4, 8]), 'tensor "w" data_offsets must be an array [begin, end]'],
      [entry('F32', [1], { begin: 0 }), 'tensor "w" data_offsets must be an array [begin, end]'],
      [entry('F32', [1], ['0', 4]), 'data_offsets ["0",4] must be non-negative integers'],
      [entry('F32', [1], [-4, 0]), 'must be non-negative integers'],
    ]
    for (const [e, problem] of cases) {
      const p = rawFile({ w: e }, 4)
      expectFormatError(() => openSafetensors(p), p, problem)
    }
  })

  it('unknown dtype', () => {
    const p = rawFile({ w: entry('F128', [1], [0, 16]) }, 16)
    expectFormatError(() => openSafetensors(p), p, 'tensor "w" has unknown dtype "F128"')
  })

  it('negative or non-integer dims', () => {
    const p = rawFile({ w: entry('F32', [2, -1], [0, 4]) }, 4)
    expectFormatError(
      () => openSafetensors(p),
      p,
      'tensor "w" shape [2,-1] has -1: dims must be non-negative integers',
    )
    const q = rawFile({ w: entry('F32', [1.5], [0, 4]) }, 4)
    expectFormatError(() => openSafetensors(q), q, 'has 1.5: dims must be non-negative integers')
    const r = rawFile({ w: entry('F32', [null], [0, 4]) }, 4)
    expectFormatError(() => openSafetensors(r), r, 'has null')
  })

  it('begin > end', () => {
    const p = rawFile({ w: entry('F32', [1], [8, 4]) }, 8)
    expectFormatError(() => openSafetensors(p), p, 'tensor "w" data_offsets [8, 4] begin after end')
  })

  it('end beyond the data section', () => {
    const p = rawFile({ w: entry('F32', [4], [0, 16]) }, 12)
    expectFormatError(
      () => openSafetensors(p),
      p,
      'tensor "w" data_offsets [0, 16] end beyond the data section (12 bytes)',
    )
  })

  it('byte count differs from shape · dtype size', () => {
    const p = rawFile({ 'model.norm.weight': entry('F32', [64], [0, 300]) }, 300)
    expectFormatError(
      () => openSafetensors(p),
      p,
      'tensor "model.norm.weight" data_offsets [0, 300] hold 300 bytes but F32 [64] needs 256',
    )
  })

  it('overlapping tensors', () => {
    const p = rawFile({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, 12)
    expectFormatError(() => openSafetensors(p), p, 'tensors "a" [0, 8] and "b" [4, 12] overlap')
    const q = rawFile({ a: entry('F32', [2], [0, 8]), b: entry('F32', [0], [4, 4]) }, 8)
    expectFormatError(() => openSafetensors(q), q, 'overlap')
  })

  it('holes between, before and after tensors', () => {
    const p = rawFile({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }, 12)
    expectFormatError(() => openSafetensors(p), p, 'hole in the data section: bytes [4, 8) before tensor "b"')
    const q = rawFile({ a: entry('F32', [1], [4, 8]) }, 8)
    expectFormatError(() => openSafetensors(q), q, 'bytes [0, 4) before tensor "a"')
    const r = rawFile({ a: entry('F32', [1], [0, 4]) }, 6)
    expectFormatError(() => openSafetensors(r), r, 'bytes [4, 6) at the end belong to no tensor')
    const s = rawFile({}, 1)
    expectFormatError(() => openSafetensors(s), s, 'bytes [0, 1) at the end')
  })

  it('duplicate names', () => {
    const p = rawFile(
      '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
      4,
    )
    expectFormatError(() => openSafetensors(p), p, 'header has duplicate tensor name "w"')
    // Equal after unescaping.
    const q = rawFile(
      '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "\\u0077": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
      4,
    )
    expectFormatError(() => openSafetensors(q), q, 'duplicate tensor name "w"')
    const r = rawFile('{"w": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}}', 4)
    expectFormatError(() => openSafetensors(r), r, 'duplicate key "dtype" in "w"')
  })

  it('__metadata__ values must be strings', () => {
    const p = rawFile({ __metadata__: { format: 'pt', step: 3 } }, 0)
    expectFormatError(() => openSafetensors(p), p, '"__metadata__" value "step" must be a string, got 3')
    const q = rawFile({ __metadata__: ['pt'] }, 0)
    expectFormatError(() => openSafetensors(q), q, '"__metadata__" must be an object of strings')
  })

  it('accepts the edge cases the spec allows', () => {
    // Empty header, no tensors; empty and 0-rank tensors; trailing space padding; tensors out of header order.
    expect(openSafetensors(rawFile('{}')).tensors.size).toBe(0)
    const p = rawFile(
      `{"b": ${JSON.stringify(entry('F32', [], [4, 8]))}, "a": ${JSON.stringify(entry('I32', [1], [0, 4]))}, "e": ${JSON.stringify(entry('F16', [0, 3], [8, 8]))}}      `,
      8,
    )
    const st = openSafetensors(p)
    expect([...st.tensors.keys()]).toEqual(['b', 'a', 'e'])
    expect(st.tensors.get('b')!.shape).toEqual([])
    expect(st.tensors.get('e')!.data.byteLength).toBe(0)
    const views: TensorView[] = [...st.tensors.values()]
    expect(views.every((v) => v.file === p)).toBe(true)
  })
})
