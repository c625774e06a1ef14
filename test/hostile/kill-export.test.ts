// Writers of model files killed with SIGKILL at random moments: `kiln export --format gguf` and
// `kiln quantize` (kill-safetensors.test.ts does the library's writer). The destination is always
// the old file or the complete new one (byte for byte the file an unkilled run writes), and
// the next run writes the new one and removes the temporary files the killed runs left.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeTempDir, removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { KILLS, killLoop, run, SEED, timeoutFor } from './helpers.js'

afterAll(() => removeTempDirs())

describe('model file writers under SIGKILL', () => {
  const model = golden('llama-tiny')
  it(
    `kiln export --format gguf (${KILLS} kills, seed ${SEED})`,
    async () => {
      const old = path.join(makeTempDir(), 'old.gguf')
      const r = await run(['export', model, '--format', 'gguf', '--dtype', 'f32', '-o', old])
      expect(r.status, r.stderr).toBe(0)
      await killLoop(
        {
          label: 'export gguf',
          args: (out) => ['export', model, '--format', 'gguf', '--dtype', 'f16', '-o', out, '--force'],
        },
        readFileSync(old),
        SEED + 2,
      )
    },
    timeoutFor(KILLS + 3),
  )

  it(
    `kiln quantize (${KILLS} kills, seed ${SEED})`,
    async () => {
      await killLoop(
        {
          label: 'quantize',
          args: (out) => ['quantize', model, '--type', 'q8_0', '-o', out, '--force', '--no-quality'],
        },
        Buffer.from('the previous file\n'),
        SEED + 3,
      )
    },
    timeoutFor(KILLS + 2),
  )
})
