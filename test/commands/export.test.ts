// kiln export --format gguf end to end: a file our reader and llama.cpp's metadata conventions accept,
// refusals with one clear line.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openGguf } from '../../src/core/formats/gguf.js'
import { runKiln } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('kiln export --format gguf', () => {
  it('writes a GGUF with llama.cpp names and metadata, and --json describes it', async () => {
    const out = path.join(tmp, 'llama-tiny-f32.gguf')
    const r = await runKiln([
      'export',
      golden('llama-tiny'),
      '--format',
      'gguf',
      '--dtype',
      'f32',
      '-o',
      out,
      '--json',
    ])
    expect(r.status, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j).toMatchObject({ output: out, format: 'gguf', dtype: 'f32', architecture: 'llama', tensors: 21 })
    const g = openGguf(out)
    expect(g.metadata.get('general.architecture')?.value).toBe('llama')
    expect(g.metadata.get('llama.block_count')?.value).toBe(2)
    expect(g.tensors.has('blk.0.attn_q.weight')).toBe(true)
    expect(j.bytes_out).toBeGreaterThan(600_000)
  })

  it('refuses an existing output unless --force, and leaves it alone', async () => {
    const out = path.join(tmp, 'exists.gguf')
    expect((await runKiln(['export', golden('gpt2-tiny'), '--format', 'gguf', '-o', out])).status).toBe(0)
    const again = await runKiln(['export', golden('gpt2-tiny'), '--format', 'gguf', '-o', out])
    expect(again.status).toBe(2)
    expect(again.stderr.trim().split('\n')).toHaveLength(1)
    expect(again.stderr).toMatch(/already exists/)
    expect(
      (await runKiln(['export', golden('gpt2-tiny'), '--format', 'gguf', '-o', out, '--force'])).status,
    ).toBe(0)
  })

  it('refuses an unsupported architecture with one line and no file', async () => {
    const out = path.join(tmp, 'bert.gguf')
    const r = await runKiln(['export', golden('bert-tiny'), '--format', 'gguf', '-o', out])
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/"bert" is an encoder .*, not a text generator/)
    expect(r.stderr).not.toMatch(/ {4}at /)
    expect(existsSync(out)).toBe(false)
    expect(readdirSync(tmp).filter((f) => f.includes('bert'))).toEqual([])
  })
})
