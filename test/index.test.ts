// The package's main export, imported by name as a user would (package self-reference → dist/).
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { golden } from './helpers/fixtures.js'

const SCRIPT = `
import { loadModel, loadTokenizer, defaultModelPath, KilnError } from 'kiln'
const dir = process.argv[1]
const model = loadModel(dir, { threads: 2 })
const ids = model.tokenizer.encode('The license is', { addSpecialTokens: true })
const logits = await model.logits(ids)
const tokens = []
for await (const t of model.generate(ids, { maxNewTokens: 5, temperature: 0, eosTokenIds: [] })) tokens.push(t.id)
model.dispose()
let disposed = ''
try { await model.logits(ids) } catch (e) { disposed = e instanceof KilnError ? e.code : 'other' }
const tok = loadTokenizer(dir)
console.log(JSON.stringify({
  ids, rows: logits.length / model.config.vocabSize, tokens, disposed,
  text: tok.decode(ids, { skipSpecialTokens: true }), defaultExists: typeof defaultModelPath() === 'string',
}))
`

describe('library API', () => {
  it('loadModel, tokenizer, logits, generate, dispose, loadTokenizer', () => {
    const dir = golden('llama-tiny')
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT, dir], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.ids).toEqual([1, 383, 547, 335, 486, 438, 342, 424, 504])
    expect(out.rows).toBe(out.ids.length)
    expect(out.tokens).toEqual([135, 495, 231, 527, 149])
    expect(out.disposed).toBe('E_DISPOSED')
    expect(out.text).toBe('The license is')
    expect(out.defaultExists).toBe(true)
  })
})

describe('command line surface', () => {
  const kiln = (args: string[]) =>
    spawnSync(process.execPath, ['bin/run.js', ...args], { encoding: 'utf8', input: '' })

  it('help lists the commands and `help COMMAND` shows its usage', () => {
    const all = kiln(['help'])
    expect(all.status).toBe(0)
    expect(all.stdout).toMatch(/generate/)
    expect(all.stdout).toMatch(/export/)
    const one = kiln(['help', 'generate'])
    expect(one.status).toBe(0)
    expect(one.stdout).toMatch(/--max-new-tokens/)
    expect(one.stdout).toMatch(/EXAMPLES/)
  })

  it('an unknown command is bad usage: one line with a suggestion, exit 2', () => {
    const r = kiln(['generat', 'x'])
    expect(r.status).toBe(2)
    expect(r.stderr).toBe(
      'kiln: unknown command "generat"; did you mean "generate"? (commands: autocomplete, cache, classify, config, download, embed, env, export, fill-mask, finetune, generate, help, ner, quantize, serve)\n',
    )
    const j = kiln(['frobnicate', '--json'])
    expect(j.status).toBe(2)
    expect(JSON.parse(j.stdout).error.code).toBe('E_USAGE')
  })
})
