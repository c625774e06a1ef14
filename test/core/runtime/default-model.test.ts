// The embedded default model is what scripts/make-default-model.mjs makes: its tokenizer and its
// seeded initialisation come from the script's deterministic part, byte for byte; its training (about
// 25 minutes, not run here) is checked by what it achieved: it beats a well-smoothed bigram of the
// same tokens 3× in held-out perplexity, and `kiln generate` writes the King James Bible's English.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { defaultModelPath } from '../../../src/core/default-model.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { jsonOut, spawnKiln } from '../../helpers/cli.js'

const SCRIPT = 'scripts/make-default-model.mjs'
const dir = defaultModelPath()
const training = JSON.parse(readFileSync(path.join(dir, 'training.json'), 'utf8'))

function script(args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!)
}

// Every word of the training chapters (every chapter but each tenth; see scripts/default-model).
function trainingWords(): Set<string> {
  const lines = gunzipSync(readFileSync('scripts/default-model/kjv.txt.gz')).toString('utf8').split('\n')
  const words = new Set<string>()
  let chapter = -1
  let last = ''
  for (const line of lines) {
    const m = /^(\d?[A-Za-z]+\d+):\d+ (.+)$/.exec(line)
    if (!m) continue
    if (m[1] !== last) {
      chapter++
      last = m[1]
    }
    if (chapter % 10 !== 9) for (const w of m[2].toLowerCase().match(/[a-z]+/g) ?? []) words.add(w)
  }
  return words
}

describe('embedded default model', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-default-'))
  afterAll(() => rmSync(tmp, { recursive: true, force: true }))

  it('has the tokenizer and initialisation its script makes', () => {
    const prepared = script(['prepare', '--work', tmp])
    expect(prepared).toEqual(training.prepared)
    for (const f of [
      'tokenizer.json',
      'tokenizer_config.json',
      'config.json',
      'generation_config.json',
      'chat_template.jinja',
    ])
      expect(readFileSync(path.join(tmp, 'init', f)).equals(readFileSync(path.join(dir, f))), f).toBe(true)
  })

  it('has a config, tokenizer and chat template that agree', () => {
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))
    const model = loadModel(dir, { threads: 1 })
    try {
      expect(model.tokenizer.vocabSize).toBe(config.vocab_size)
      expect(config.vocab_size).toBe(training.recipe.vocab)
      expect(config.num_hidden_layers).toBe(training.recipe.shape.layers)
      expect(config.hidden_size).toBe(training.recipe.shape.hidden)
      const eos = model.tokenizer.tokenToId('<|endoftext|>')
      expect(config.eos_token_id).toBe(eos)
      expect(model.generation.eosTokenIds).toEqual([eos, model.tokenizer.tokenToId('<|im_end|>')])
      const chat = model.tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }], {
        addGenerationPrompt: true,
      })
      expect(chat).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')
    } finally {
      model.dispose()
    }
  })

  it('is 3× less perplexed than a bigram on a slice of the held-out chapters', () => {
    const e = script(['evaluate', '--tokens', '3000']) as Record<string, number>
    expect(e.tokens).toBeGreaterThan(2500)
    expect(e.modelPerplexity * 3).toBeLessThanOrEqual(e.bigramPerplexity)
    // The README's figures are the whole held-out text's, as the script measured them.
    const readme = readFileSync(path.join(dir, 'README.md'), 'utf8')
    expect(training.evaluation.ratio).toBeGreaterThanOrEqual(3)
    expect(readme).toContain(`**${training.evaluation.modelPerplexity.toFixed(2)}**`)
    expect(readme).toContain(`**${training.evaluation.ratio.toFixed(2)}× lower**`)
  })

  it('generates the English of its text from "Once upon a time"', async () => {
    const vocabulary = trainingWords()
    for (const seed of ['1', '2', '3']) {
      const r = await spawnKiln(['generate', 'Once upon a time', '--seed', seed, '--json'])
      expect(r.status, r.stderr).toBe(0)
      const { text } = jsonOut<{ text: string }>(r)
      const words = text.toLowerCase().match(/[a-z]+/g) ?? []
      expect(words.length, text).toBeGreaterThanOrEqual(12)
      const known = words.filter((w) => vocabulary.has(w)).length
      expect(known / words.length, text).toBeGreaterThanOrEqual(0.9)
      expect(text, text).toMatch(/[a-z][,;:.] [A-Za-z]/) // clauses and sentences, not a word list
    }
  })
})
