// kiln quantize end to end: the file it writes (from a folder or from a GGUF) holds the same blocks
// export writes, kiln and llama.cpp load it, and the quality report measures the loss: Q4_0 costs
// more than Q8_0, a re-quantized GGUF measures like the folder's. Refusals are one line.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../src/core/export/index.js'
import { gguf, openGguf, writeGguf } from '../../src/core/formats/gguf.js'
import { jsonOut, runKiln } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-quantize-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface QuantizeJson {
  output: string
  type: string
  bytes_in: number
  bytes_out: number
  quality: { ppl_base: number; ppl_quant: number; kl_mean: number; tokens: number } | null
}

/** Every tensor's type and bytes, by name. */
function tensorsOf(file: string): Map<string, { type: string; bytes: string }> {
  const g = openGguf(file)
  const out = new Map<string, { type: string; bytes: string }>()
  for (const t of g.tensors.values())
    out.set(t.name, { type: t.type, bytes: Buffer.from(t.data).toString('base64') })
  return out
}

describe('kiln quantize', () => {
  it('folder → q8_0 and q4_0: the blocks export writes, sizes, and a quality report', async () => {
    const reports: Record<string, QuantizeJson> = {}
    for (const type of ['q8_0', 'q4_0']) {
      const out = path.join(tmp, `qwen2-${type}.gguf`)
      const r = await runKiln(['quantize', golden('qwen2-tiny'), '--type', type, '-o', out, '--json'])
      expect(r.status, r.stderr).toBe(0)
      const j = jsonOut<QuantizeJson>(r)
      expect(j).toMatchObject({ output: out, type })
      expect(j.bytes_out).toBe(readFileSync(out).length)
      expect(j.bytes_out).toBeLessThan(j.bytes_in)
      const ref = path.join(tmp, `export-${type}.gguf`)
      exportGguf(golden('qwen2-tiny'), ref, { dtype: type as 'q8_0' })
      expect(tensorsOf(out)).toEqual(tensorsOf(ref))
      reports[type] = j
    }
    const q8 = reports.q8_0.quality!
    const q4 = reports.q4_0.quality!
    expect(q8.tokens).toBeGreaterThan(100)
    expect(q8.ppl_base).toBeCloseTo(q4.ppl_base, 6) // the same original model, the same text
    for (const q of [q8, q4]) {
      expect(Number.isFinite(q.ppl_quant) && q.ppl_quant > 1).toBe(true)
      expect(q.kl_mean).toBeGreaterThan(0)
    }
    expect(q4.kl_mean).toBeGreaterThan(q8.kl_mean) // 4 bits lose more than 8
  })

  it('GGUF → q4_0 re-quantizes each tensor as export would, keeping metadata', async () => {
    const f32 = path.join(tmp, 'llama-f32.gguf')
    exportGguf(golden('llama-tiny'), f32, { dtype: 'f32' })
    const out = path.join(tmp, 'llama-requant-q4_0.gguf')
    const r = await runKiln(['quantize', f32, '--type', 'q4_0', '-o', out, '--json', '--no-quality'])
    expect(r.status, r.stderr).toBe(0)
    expect(jsonOut<QuantizeJson>(r).quality).toBeNull()
    const ref = path.join(tmp, 'llama-export-q4_0.gguf')
    exportGguf(golden('llama-tiny'), ref, { dtype: 'q4_0' })
    expect(tensorsOf(out)).toEqual(tensorsOf(ref))
    const g = openGguf(out)
    expect(g.metadata.get('general.file_type')?.value).toBe(2)
    expect(g.metadata.get('general.quantization_version')?.value).toBe(2)
    expect(g.metadata.get('tokenizer.ggml.tokens')).toEqual(
      openGguf(f32).metadata.get('tokenizer.ggml.tokens'),
    )
    // and kiln runs it
    const gen = await runKiln([
      'generate',
      '-m',
      out,
      '--temperature',
      '0',
      '--max-new-tokens',
      '4',
      '--json',
      'hi',
    ])
    expect(gen.status, gen.stderr).toBe(0)
    expect(jsonOut<{ tokens: number[] }>(gen).tokens).toHaveLength(4)
  })

  it('measures on --eval-file, and prints a summary on stderr without --json', async () => {
    const text = path.join(tmp, 'eval.txt')
    writeFileSync(text, 'The quick brown fox jumps over the lazy dog. '.repeat(20))
    const out = path.join(tmp, 'gpt2-q8_0.gguf')
    const r = await runKiln([
      'quantize',
      golden('gpt2-tiny'),
      '--type',
      'q8_0',
      '-o',
      out,
      '--eval-file',
      text,
    ])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`${out}\n`)
    expect(r.stderr).toMatch(/MB → .* MB .* q8_0/)
    expect(r.stderr).toMatch(/perplexity [\d.]+ → [\d.]+ · mean KL .* tokens of .*eval\.txt/)
  })

  it('refuses bad input in one line: type, existing output, missing eval file, not a GGUF, an architecture', async () => {
    const exists = path.join(tmp, 'exists.gguf')
    writeFileSync(exists, 'keep me')
    // A well-formed GGUF of an architecture kiln does not run.
    const falcon = path.join(tmp, 'falcon.gguf')
    writeGguf(falcon, {
      metadata: [['general.architecture', gguf.string('falcon')]],
      tensors: [{ name: 'token_embd.weight', type: 'F32', shape: [2, 32], data: new Float32Array(64) }],
    })
    const cases: [string[], number, RegExp][] = [
      [['quantize', golden('gpt2-tiny'), '--type', 'q3_k'], 2, /Expected --type=q3_k to be one of/],
      [['quantize', golden('gpt2-tiny'), '--type', 'q8_0', '-o', exists], 2, /already exists/],
      [
        ['quantize', golden('gpt2-tiny'), '--type', 'q8_0', '--eval-file', path.join(tmp, 'nope.txt')],
        2,
        /--eval-file/,
      ],
      [['quantize', exists, '--type', 'q8_0', '-o', path.join(tmp, 'x.gguf')], 1, /exists\.gguf: .*GGUF/],
      [['quantize', golden('bert-tiny'), '--type', 'q8_0', '-o', path.join(tmp, 'bert.gguf')], 1, /bert/],
      [['quantize', falcon, '--type', 'q8_0', '-o', path.join(tmp, 'falcon-q8_0.gguf')], 1, /falcon/],
    ]
    for (const [args, status, message] of cases) {
      const r = await runKiln(args)
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(status)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
      expect(r.stderr).toMatch(message)
    }
    expect(readFileSync(exists, 'utf8')).toBe('keep me')
    // refused before anything was written
    for (const f of ['bert.gguf', 'falcon-q8_0.gguf', 'x.gguf'])
      expect(existsSync(path.join(tmp, f)), f).toBe(false)
  })
})
