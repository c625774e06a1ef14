// kiln classify, embed, fill-mask and ner end to end: what each prints per text (text and --json),
// texts from arguments, --file (lines and JSONL) and stdin, embed's three file formats against the
// library's vectors, and refusals in one clear line.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openSafetensors } from '../../src/core/formats/safetensors.js'
import { pipeline } from '../../src/core/pipelines/index.js'
import { maskedLmModel, nerModel } from '../core/pipelines/heads.js'
import { jsonLines, makeTempDir, removeTempDirs, runKiln } from '../helpers/cli.js'
import { expectCleanError } from '../helpers/cli-errors.js'
import { BERT_TINY } from '../helpers/encoder-variants.js'

afterAll(() => removeTempDirs())

const TEXTS = ['Transformers v2 is revolutionary!', 'This is terrible.', 'A short one']

/** A little reader of the .npy files embed writes: (rows, cols) float32. */
function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(file)
  expect(buf.subarray(0, 6).toString('latin1')).toBe('\x93NUMPY')
  const headerLength = buf.readUInt16LE(8)
  const header = buf.subarray(10, 10 + headerLength).toString('latin1')
  expect(header).toContain("'descr': '<f4'")
  expect(header.endsWith('\n')).toBe(true)
  expect((10 + headerLength) % 64).toBe(0)
  const shape = /'shape': \((\d+), (\d+)\)/.exec(header)!.slice(1).map(Number)
  const body = buf.subarray(10 + headerLength)
  return {
    shape,
    data: new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)),
  }
}

describe('kiln classify', () => {
  it('a line per text, label and score; --json a line per text with the labels', async () => {
    const r = await runKiln(['classify', '-m', BERT_TINY, ...TEXTS])
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    for (const l of lines) expect(l).toMatch(/^(NEGATIVE|POSITIVE)\t0\.\d{4}$/)
    expect(r.stderr).toMatch(/^3 texts in \d+\.\d\d s\n$/)
    const j = await runKiln(['classify', '-m', BERT_TINY, '--top-k', '2', '--json', TEXTS[0]])
    const [line] = jsonLines<{ text: string; labels: { label: string; score: number }[] }>(j)
    expect(line.text).toBe(TEXTS[0])
    expect(line.labels.map((l) => l.label).sort()).toEqual(['NEGATIVE', 'POSITIVE'])
    expect(line.labels[0].score + line.labels[1].score).toBeCloseTo(1, 6)
    expect(j.stderr).toBe('')
  })

  it('texts from --file (lines, JSONL) and stdin, in order, blank lines skipped', async () => {
    const dir = makeTempDir()
    const txt = path.join(dir, 'in.txt')
    const jsonl = path.join(dir, 'in.jsonl')
    writeFileSync(txt, `${TEXTS[0]}\n\n${TEXTS[1]}\n`)
    writeFileSync(jsonl, `${TEXTS.map((text) => JSON.stringify({ text })).join('\n')}\n`)
    const fromArgs = jsonLines(await runKiln(['classify', '-m', BERT_TINY, '--json', ...TEXTS]))
    const fromJsonl = jsonLines(await runKiln(['classify', '-m', BERT_TINY, '--json', '--file', jsonl]))
    const fromFile = jsonLines(
      await runKiln(['classify', '-m', BERT_TINY, '--json', '-f', txt, '--batch-size', '1']),
    )
    const fromStdin = jsonLines(
      await runKiln(['classify', '-m', BERT_TINY, '--json', '-'], { input: TEXTS.join('\n') }),
    )
    expect(fromJsonl).toEqual(fromArgs)
    expect(fromStdin).toEqual(fromArgs)
    expect(fromFile).toEqual([fromArgs[0], fromArgs[1]])
    writeFileSync(jsonl, '{"text": "ok"}\n{"txt": "no"}\n')
    expectCleanError(
      await runKiln(['classify', '-m', BERT_TINY, '-f', jsonl]),
      2,
      /in\.jsonl:2: needs a "text" string/,
    )
  })

  it('refuses a missing file and a model without the head, in one line', async () => {
    expectCleanError(
      await runKiln(['classify', '-m', BERT_TINY, '-f', '/no/such.txt']),
      2,
      /--file \/no\/such\.txt: no such file/,
    )
    expectCleanError(
      await runKiln(['classify', '-m', maskedLmModel(), 'x']),
      1,
      /text-classification needs a sequence classifier/,
    )
  })
})

describe('kiln embed', () => {
  it('.npy, .safetensors and .jsonl hold the vectors the library gives, atomically', async () => {
    const extract = await pipeline('feature-extraction', BERT_TINY, { threads: 2 })
    const want = await extract(TEXTS, { pooling: 'mean', normalize: true })
    extract.dispose()
    const dir = makeTempDir()
    for (const ext of ['npy', 'safetensors', 'jsonl']) {
      const out = path.join(dir, `e.${ext}`)
      const r = await runKiln(['embed', '-m', BERT_TINY, ...TEXTS, '-o', out, '--json', '--batch-size', '2'])
      expect(r.status, r.stderr).toBe(0)
      expect(jsonLines(r)[0]).toMatchObject({ texts: 3, dims: 64, output: out })
      let got: Float32Array
      if (ext === 'npy') {
        const npy = readNpy(out)
        expect(npy.shape).toEqual([3, 64])
        got = npy.data
      } else if (ext === 'safetensors') {
        const t = openSafetensors(out).tensors.get('embeddings')!
        expect(t.shape).toEqual([3, 64])
        got = new Float32Array(t.data.slice().buffer)
      } else {
        const lines = readFileSync(out, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l))
        expect(lines.map((l) => l.text)).toEqual(TEXTS)
        got = Float32Array.from(lines.flatMap((l) => l.embedding))
      }
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.data.buffer)), ext).toBe(true)
    }
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([])
  })

  it('without --output a JSON line per text; an existing output or a bad extension is refused', async () => {
    const r = await runKiln(['embed', '-m', BERT_TINY, 'a cat'])
    expect(r.status, r.stderr).toBe(0)
    expect(jsonLines<{ embedding: number[] }>(r)[0].embedding).toHaveLength(64)
    const dir = makeTempDir()
    const out = path.join(dir, 'x.npy')
    writeFileSync(out, 'keep')
    expectCleanError(
      await runKiln(['embed', '-m', BERT_TINY, 'x', '-o', out]),
      2,
      /exists \(--force replaces it\)/,
    )
    expect(readFileSync(out, 'utf8')).toBe('keep')
    expectCleanError(
      await runKiln(['embed', '-m', BERT_TINY, 'x', '-o', path.join(dir, 'x.csv')]),
      2,
      /must be one of \.npy, \.safetensors, \.jsonl/,
    )
    expect(existsSync(path.join(dir, 'x.csv'))).toBe(false)
  })

  it('a failure mid-run leaves no output file', async () => {
    const dir = makeTempDir()
    const input = path.join(dir, 'in.jsonl')
    writeFileSync(input, '{"text": "fine"}\nnot json\n')
    const out = path.join(dir, 'e.npy')
    expectCleanError(
      await runKiln(['embed', '-m', BERT_TINY, '-f', input, '-o', out, '--batch-size', '1']),
      2,
      /in\.jsonl:2: not valid JSON/,
    )
    expect(readdirSync(dir)).toEqual(['in.jsonl'])
  })
})

describe('kiln fill-mask and kiln ner', () => {
  it('fill-mask: a line per candidate, then a blank line; --json a line per text', async () => {
    const model = maskedLmModel()
    const r = await runKiln(['fill-mask', '-m', model, 'this is [MASK] one', '--top-k', '3'])
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines.slice(0, 3).every((l) => /^0\.\d{4}\t\S+\tthis is.* one$/.test(l))).toBe(true)
    expect(lines[3]).toBe('')
    const [j] = jsonLines<{ candidates: { token_str: string }[] }>(
      await runKiln(['fill-mask', '-m', model, '--json', 'a [MASK]']),
    )
    expect(j.candidates).toHaveLength(5)
    expectCleanError(
      await runKiln(['fill-mask', '-m', model, 'no mask']),
      1,
      /no mask token \(\[MASK\]\) found/,
    )
  })

  it('ner: entities with their offsets into the text; every aggregation strategy', async () => {
    const model = nerModel()
    const text = 'Sarah lives in London'
    for (const aggregation of ['none', 'simple', 'first', 'average', 'max']) {
      const r = await runKiln([
        'ner',
        '-m',
        model,
        '--aggregation',
        aggregation,
        '--ignore-labels',
        '',
        '--json',
        text,
      ])
      expect(r.status, r.stderr).toBe(0)
      const [j] = jsonLines<{ entities: { start: number; end: number }[] }>(r)
      expect(j.entities.length, aggregation).toBeGreaterThan(0)
      for (const e of j.entities) expect(text.slice(e.start, e.end).length).toBe(e.end - e.start)
    }
    const t = await runKiln(['ner', '-m', model, '--ignore-labels', '', text])
    expect(t.stdout.split('\n')[0]).toMatch(/^(O|PER|LOC)\t.+\t\d+-\d+\t0\.\d{4}$/)
    expect(t.stdout.endsWith('\n\n')).toBe(true)
  })
})
