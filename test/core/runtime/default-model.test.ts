// The embedded default model is what scripts/make-default-model.mjs makes, byte for byte, and it
// behaves as described: a bigram model of its built-in text.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { defaultModelPath } from '../../../src/core/default-model.js'
import { loadModel } from '../../../src/core/runtime/model.js'

describe('embedded default model', () => {
  it('is reproduced exactly by its script', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-default-'))
    try {
      const r = spawnSync(process.execPath, ['scripts/make-default-model.mjs', tmp], { encoding: 'utf8' })
      expect(r.status, r.stderr).toBe(0)
      const files = readdirSync(defaultModelPath()).sort()
      expect(readdirSync(tmp).sort()).toEqual(files)
      for (const f of files)
        expect(
          readFileSync(path.join(tmp, f)).equals(readFileSync(path.join(defaultModelPath(), f))),
          f,
        ).toBe(true)
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  })

  it('greedily continues with text from its corpus', async () => {
    const model = loadModel(defaultModelPath(), { threads: 1 })
    try {
      let text = ''
      for await (const t of model.generate('The children of the', { maxNewTokens: 6, temperature: 0 }))
        text += t.text
      expect(text).toBe(' potter how the potter how the')
      const corpus = readFileSync('scripts/make-default-model.mjs', 'utf8')
      for (const word of text.trim().split(/\s+/)) expect(corpus).toContain(word)
    } finally {
      model.dispose()
    }
  })
})
