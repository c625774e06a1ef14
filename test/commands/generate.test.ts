// `kiln generate` end to end: what the command itself does on top of the library (prompt from argv or
// stdin, --prompts-file, --chat/--system, streaming to stdout, timings, --json), and that its flags
// reach the library. The generation behaviour itself is tested in test/core/runtime/generation.test.ts.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { readLoraAdapter } from '../../src/core/formats/peft.js'
import { openModelSource } from '../../src/core/runtime/model-source.js'
import { loadTokenizer } from '../../src/core/tokenizer/index.js'
import { writeMergedModel } from '../../src/core/train/outputs.js'
import {
  type GenerateJson,
  jsonLines,
  jsonOut,
  makeTempDir,
  removeTempDirs,
  runKiln,
} from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { emojiGpt2, eosLlama, goldenOf } from '../helpers/generation.js'

afterAll(removeTempDirs)

/** `kiln generate --json` that must succeed. */
async function generateJson(args: string[], input?: string): Promise<GenerateJson> {
  const r = await runKiln(['generate', ...args, '--json'], { input })
  expect(r.status, r.stdout + r.stderr).toBe(0)
  expect(r.stderr).toBe('')
  return jsonOut<GenerateJson>(r)
}

const greedy = (model: string, n = 24) => [
  '-m',
  golden(model),
  '--temperature',
  '0',
  '--max-new-tokens',
  String(n),
]

describe.concurrent('default model (no -m)', () => {
  it('streams text to stdout and one timings line to stderr', async () => {
    const r = await runKiln(['generate', 'Once upon a time', '--max-new-tokens', '16'])
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).not.toBe('')
    expect(r.stdout.endsWith('\n')).toBe(true)
    const err = r.stderr.split('\n').filter((l) => l !== '')
    expect(err).toHaveLength(1)
    expect(err[0]).toMatch(
      /^load \d+ ms · prompt \d+ tokens at [\d.]+ tok\/s · generated \d+ tokens at [\d.]+ tok\/s \((length|eos)\)$/,
    )
  })

  it('--quiet leaves stderr empty', async () => {
    const r = await runKiln(['generate', 'Once upon a time', '--max-new-tokens', '4', '--quiet'])
    expect(r.status).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).not.toBe('')
  })

  it('--json prints exactly the documented object', async () => {
    const j = await generateJson(['Once upon a time', '--temperature', '0', '--max-new-tokens', '5'])
    expect(Object.keys(j).sort()).toEqual(
      ['completion_tokens', 'finish_reason', 'prompt_tokens', 'text', 'timings', 'tokens'].sort(),
    )
    expect(Object.keys(j.timings).sort()).toEqual(['decode_tokens_per_s', 'load_ms', 'prefill_tokens_per_s'])
    expect(typeof j.text).toBe('string')
    expect(j.tokens).toHaveLength(5)
    for (const id of j.tokens) expect(Number.isInteger(id) && id >= 0).toBe(true)
    expect(Number.isInteger(j.prompt_tokens) && j.prompt_tokens > 0).toBe(true)
    expect(j.completion_tokens).toBe(5)
    expect(j.finish_reason).toBe('length')
    for (const v of Object.values(j.timings))
      expect(typeof v === 'number' && Number.isFinite(v) && v >= 0).toBe(true)
    expect(j.timings.load_ms).toBeGreaterThan(0)
    expect(j.timings.prefill_tokens_per_s).toBeGreaterThan(0)
    expect(j.timings.decode_tokens_per_s).toBeGreaterThan(0)
  })

  it('the streamed text is the --json text', async () => {
    const args = ['generate', 'Once upon a time', '--temperature', '0', '--max-new-tokens', '40']
    const [streamed, json] = await Promise.all([runKiln(args), runKiln([...args, '--json'])])
    expect(streamed.status).toBe(0)
    const j = jsonOut<GenerateJson>(json)
    expect(streamed.stdout).toBe(`${j.text}\n`)
  })
})

describe.concurrent('prompt from stdin', () => {
  const g = goldenOf('llama-tiny')

  it('PROMPT "-" reads stdin (one trailing newline dropped)', async () => {
    const j = await generateJson(['-', ...greedy('llama-tiny')], `${g.prompts[0]}\n`)
    expect(j.tokens).toEqual(g.single[0].greedy_new_ids)
    expect(j.prompt_tokens).toBe(g.single[0].input_ids.length)
  })

  it('no PROMPT reads stdin when it is not a terminal', async () => {
    const j = await generateJson(greedy('llama-tiny'), g.prompts[1])
    expect(j.tokens).toEqual(g.single[1].greedy_new_ids)
  })

  it('PROMPT wins over stdin', async () => {
    const j = await generateJson([g.prompts[0], ...greedy('llama-tiny')], 'something else entirely')
    expect(j.tokens).toEqual(g.single[0].greedy_new_ids)
  })

  it('an empty prompt on a model without BOS is a clear error', async () => {
    const r = await runKiln(['generate', '-m', golden('gpt2-tiny')], { input: '' })
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/^kiln: .*empty.*\n$/)
  })
})

describe.concurrent('--prompts-file', () => {
  it('one JSON line per prompt (blank lines skipped), equal to single runs and to the golden ids', async () => {
    // Batching itself (every golden model, ragged prompts) is tested on the library.
    const g = goldenOf('llama-tiny')
    const file = path.join(makeTempDir(), 'prompts.jsonl')
    writeFileSync(file, `${g.prompts.map((prompt) => JSON.stringify({ prompt })).join('\n\n')}\n`)
    const [r, ...singles] = await Promise.all([
      runKiln(['generate', '--prompts-file', file, ...greedy('llama-tiny')]),
      ...g.prompts.map((prompt) => generateJson([prompt, ...greedy('llama-tiny')])),
    ])
    expect(r.status, r.stderr).toBe(0)
    const lines = jsonLines<GenerateJson>(r)
    expect(lines).toHaveLength(g.prompts.length)
    g.prompts.forEach((_, i) => {
      const { timings: _a, ...batched } = lines[i]
      const { timings: _b, ...alone } = singles[i]
      expect(batched).toEqual(alone)
      expect(lines[i].tokens).toEqual(g.single[i].greedy_new_ids)
      expect(Object.keys(lines[i].timings).sort()).toEqual([
        'decode_tokens_per_s',
        'load_ms',
        'prefill_tokens_per_s',
      ])
    })
  })

  it('a bad line is a usage error naming the line', async () => {
    const file = path.join(makeTempDir(), 'prompts.jsonl')
    writeFileSync(file, '{"prompt": "ok"}\n{"text": "no prompt key"}\n')
    const r = await runKiln(['generate', '--prompts-file', file])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^kiln: --prompts-file .*:2: .*\n$/)
  })

  it('PROMPT and --prompts-file together is a usage error', async () => {
    const file = path.join(makeTempDir(), 'prompts.jsonl')
    writeFileSync(file, '{"prompt": "ok"}\n')
    const r = await runKiln(['generate', 'hello', '--prompts-file', file])
    expect(r.status).toBe(2)
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1)
  })
})

describe.concurrent('streaming to stdout', () => {
  it('--stop: a stop string spanning tokens is never streamed, not even in part', async () => {
    // llama3-tiny's greedy continuation of prompt 0 is " is" × 16, then "ve" × 8.
    const g = goldenOf('llama3-tiny')
    const full = g.single[0].greedy_text
    const stop = ' isve'
    const expected = full.slice(0, full.indexOf(stop))
    const args = [g.prompts[0], ...greedy('llama3-tiny'), '--stop', stop]
    const [streamed, j] = await Promise.all([runKiln(['generate', ...args]), generateJson(args)])
    expect(streamed.status).toBe(0)
    expect(streamed.stdout).toBe(`${expected}\n`)
    expect(streamed.stderr).toMatch(/\(stop\)\n$/)
    expect(j.text).toBe(expected)
    expect(j.finish_reason).toBe('stop')
  })

  it('never splits a UTF-8 character between writes', async () => {
    // gpt2-emoji generates "😀" × 6 for gpt2-tiny's prompt 1, and --stop abc holds back 2 UTF-16
    // units: the end of the held-back text falls inside an emoji.
    const args = [goldenOf('gpt2-tiny').prompts[1], '-m', emojiGpt2(), '--temperature', '0']
    const r = await runKiln(['generate', ...args, '--max-new-tokens', '6', '--stop', 'abc'])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`${'😀'.repeat(6)}\n`)
    const fatal = new TextDecoder('utf-8', { fatal: true })
    expect(() => fatal.decode(r.stdoutBytes)).not.toThrow()
    // Each write is whole characters, so every piece decodes on its own and holds no U+FFFD.
    for (const c of r.chunks) expect(fatal.decode(c)).not.toContain('\ufffd')
  })
})

describe.concurrent('flags reach the library', () => {
  it('--min-new-tokens holds back the EOS of generation_config.json', async () => {
    const { dir, eos } = eosLlama()
    const prompt = goldenOf('llama-tiny').prompts[0]
    const args = [prompt, '-m', dir, '--temperature', '0', '--max-new-tokens', '24']
    const [plain, held] = await Promise.all([
      generateJson(args),
      generateJson([...args, '--min-new-tokens', '3']),
    ])
    expect(plain.finish_reason).toBe('eos')
    expect(plain.tokens).toEqual([eos])
    expect(held.completion_tokens).toBeGreaterThanOrEqual(3)
    expect(held.tokens.slice(0, 3)).not.toContain(eos)
  })

  it('--seed: the same seed gives the same tokens; another seed other tokens', async () => {
    const base = ['Once upon a time', '--max-new-tokens', '32', '--temperature', '1']
    const [a, b, c] = await Promise.all(
      ['7', '7', '8'].map((seed) => generateJson([...base, '--seed', seed])),
    )
    expect(b.tokens).toEqual(a.tokens)
    expect(b.text).toBe(a.text)
    expect(c.tokens).not.toEqual(a.tokens)
  })

  it('--top-k, --top-p, --min-p, --repetition-penalty and --threads', async () => {
    // Each of the first three alone makes sampling at temperature 1.5 greedy; the penalty breaks
    // qwen2-tiny's repetitive greedy run of prompt 0; one thread computes the same greedy ids.
    const g = goldenOf('qwen2-tiny')
    const sampled = [g.prompts[1], '-m', golden('qwen2-tiny'), '--max-new-tokens', '24']
    const hot = [...sampled, '--temperature', '1.5', '--seed', '5']
    const flags = [
      ['--top-k', '1'],
      ['--top-p', '0.000001'],
      ['--min-p', '1'],
    ]
    const [penalized, oneThread, ...filtered] = await Promise.all([
      generateJson([g.prompts[0], ...greedy('qwen2-tiny'), '--repetition-penalty', '5']),
      generateJson([g.prompts[1], ...greedy('qwen2-tiny'), '--threads', '1']),
      ...flags.map((flag) => generateJson([...hot, ...flag])),
    ])
    filtered.forEach((j, i) => {
      expect(j.tokens, flags[i].join(' ')).toEqual(g.single[1].greedy_new_ids)
    })
    expect(penalized.tokens).not.toEqual(g.single[0].greedy_new_ids)
    expect(penalized.completion_tokens).toBe(24)
    expect(oneThread.tokens).toEqual(g.single[1].greedy_new_ids)
  })
})

describe.concurrent('--chat', () => {
  /** Prompt length of the rendered template, encoded without adding BOS a second time. */
  function chatPromptTokens(model: string, user: string, system?: string): number {
    const tok = loadTokenizer(golden(model))
    const messages = system ? [{ role: 'system', content: system }] : []
    messages.push({ role: 'user', content: user })
    return tok.encode(tok.applyChatTemplate(messages, { addGenerationPrompt: true }), {
      addSpecialTokens: false,
    }).length
  }

  /** A short greedy chat run of `name` on "Hello there". */
  const chat = (name: string) => ['Hello there', '--chat', ...greedy(name, 4)]

  for (const name of ['llama-tiny', 'qwen2-tiny']) {
    it(`${name}: applies chat_template.jinja to PROMPT as a user message`, async () => {
      const j = await generateJson(chat(name))
      expect(j.prompt_tokens).toBe(chatPromptTokens(name, 'Hello there'))
      expect(j.completion_tokens).toBeGreaterThan(0)
    })

    it(`${name}: --system adds a system message`, async () => {
      const j = await generateJson([...chat(name), '--system', 'You are terse.'])
      expect(j.prompt_tokens).toBe(chatPromptTokens(name, 'Hello there', 'You are terse.'))
      expect(j.prompt_tokens).toBeGreaterThan(chatPromptTokens(name, 'Hello there'))
    })
  }

  it('llama-tiny: the template BOS is not doubled', async () => {
    const j = await generateJson([
      'Hello there',
      '-m',
      golden('llama-tiny'),
      '--chat',
      '--max-new-tokens',
      '1',
    ])
    const tok = loadTokenizer(golden('llama-tiny'))
    const plain = tok.encode('[INST] Hello there [/INST]') // BOS added once by the post-processor
    expect(j.prompt_tokens).toBe(plain.length)
  })

  it('a model without a chat template is a clear error', async () => {
    const r = await runKiln(['generate', 'Hello', '-m', golden('gpt2-tiny'), '--chat'])
    expect(r.status).not.toBe(0)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/^kiln: .*chat template.*\n$/)
  })

  it('--system without --chat is a usage error (exit 2)', async () => {
    const r = await runKiln(['generate', 'Hello', '--system', 'You are terse.'])
    expect(r.status).toBe(2)
    expect(r.stderr).toBe('kiln: --system needs --chat\n')
  })
})

describe.concurrent('--json-schema', () => {
  const schema = {
    type: 'object',
    properties: { n: { type: 'integer' }, ok: { type: 'boolean' }, tag: { enum: ['a', 'b'] } },
    required: ['n', 'ok', 'tag'],
    additionalProperties: false,
  }

  it('prints JSON that matches the schema, and ends when it is complete', async () => {
    const dir = makeTempDir()
    const file = path.join(dir, 'schema.json')
    writeFileSync(file, JSON.stringify(schema))
    for (const seed of ['1', '2', '3']) {
      const j = await generateJson([
        'Hello',
        '--json-schema',
        file,
        '--temperature',
        '0.9',
        '--seed',
        seed,
        '--max-new-tokens',
        '200',
      ])
      expect(j.finish_reason).toBe('stop')
      const value = JSON.parse(j.text)
      expect(Object.keys(value)).toEqual(['n', 'ok', 'tag'])
      expect(
        Number.isInteger(value.n) && typeof value.ok === 'boolean' && ['a', 'b'].includes(value.tag),
      ).toBe(true)
    }
  })

  it('a schema it cannot enforce, or no schema at all, is a usage error naming the file', async () => {
    const dir = makeTempDir()
    const bad = path.join(dir, 'bad.json')
    writeFileSync(bad, JSON.stringify({ type: 'string', pattern: '^a' }))
    const broken = path.join(dir, 'broken.json')
    writeFileSync(broken, '{"type":')
    for (const [file, message] of [
      [bad, /--json-schema .*bad\.json: the schema uses "pattern"/],
      [broken, /--json-schema .*broken\.json: not valid JSON/],
      [path.join(dir, 'missing.json'), /--json-schema .*missing\.json: ENOENT/],
    ] as const) {
      const r = await runKiln(['generate', 'Hello', '--json-schema', file])
      expect(r.status).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stderr.trim().split('\n')).toHaveLength(1)
    }
  })
})

describe.concurrent('--adapter', () => {
  const adapter = path.join(golden('lora'), 'adapter_after_5_steps')

  it('generates as the base with the adapter merged in', async () => {
    const merged = path.join(makeTempDir(), 'merged')
    writeMergedModel(merged, openModelSource(golden('llama-tiny')), readLoraAdapter(adapter), false)
    const args = ['Once upon a time', '--temperature', '0', '--max-new-tokens', '12']
    const withAdapter = await generateJson([...args, '-m', golden('llama-tiny'), '--adapter', adapter])
    const folded = await generateJson([...args, '-m', merged])
    const base = await generateJson([...args, '-m', golden('llama-tiny')])
    expect(withAdapter.tokens).toEqual(folded.tokens)
    expect(withAdapter.tokens).not.toEqual(base.tokens)
  })

  it('a folder that is not an adapter is one error line naming it', async () => {
    const r = await runKiln([
      'generate',
      'Hello',
      '-m',
      golden('llama-tiny'),
      '--adapter',
      golden('gpt2-tiny'),
    ])
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/gpt2-tiny: no adapter_config\.json \(not a PEFT adapter folder\)$/),
    ])
  })
})
