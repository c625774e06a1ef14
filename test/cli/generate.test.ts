// `kiln generate` end to end: the compiled CLI on the embedded default model and on the golden
// fixtures (whose greedy continuations PyTorch + transformers computed), through argv, stdin,
// --prompts-file and --json.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadTokenizer } from '../../src/core/tokenizer/index.js'
import {
  copyModel,
  editJson,
  type GenerateJson,
  jsonLines,
  jsonOut,
  makeTempDir,
  removeTempDirs,
  runKiln,
} from '../helpers/cli.js'
import { type GoldenLM, golden, readJson } from '../helpers/fixtures.js'

afterAll(removeTempDirs)

const LMS = ['llama-tiny', 'llama-tiny-bf16', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']
/**
 * Byte-level BPE models, whose streamed text equals transformers' decode of all ids. The
 * SentencePiece-style llamas (ByteFallback) can differ where a run of byte tokens is invalid UTF-8:
 * transformers decodes the whole run to U+FFFDs, while the streamed text keeps what was already
 * printed (printed text cannot be taken back); their token ids are what must match.
 */

const goldenOf = (name: string) => readJson<GoldenLM>(path.join(golden(name), 'golden.json'))

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

  it('--max-new-tokens 0 generates nothing', async () => {
    const j = await generateJson(['Once upon a time', '--max-new-tokens', '0'])
    expect(j.tokens).toEqual([])
    expect(j.completion_tokens).toBe(0)
    expect(j.text).toBe('')
    expect(j.finish_reason).toBe('length')
  })

  it('the streamed text is the --json text', async () => {
    const args = ['generate', 'Once upon a time', '--temperature', '0', '--max-new-tokens', '40']
    const [streamed, json] = await Promise.all([runKiln(args), runKiln([...args, '--json'])])
    expect(streamed.status).toBe(0)
    const j = jsonOut<GenerateJson>(json)
    expect(streamed.stdout).toBe(`${j.text}\n`)
  })
})

describe.concurrent('greedy generation matches transformers on the golden models', () => {
  for (const name of LMS) {
    const g = goldenOf(name)
    g.prompts.forEach((prompt, i) => {
      it(`${name} prompt ${i}`, async () => {
        const j = await generateJson([prompt, ...greedy(name)])
        expect(j.tokens).toEqual(g.single[i].greedy_new_ids)
        expect(j.prompt_tokens).toBe(g.single[i].input_ids.length)
        expect(j.completion_tokens).toBe(24)
        expect(j.finish_reason).toBe('length')
        expect(j.text).toBe(g.single[i].greedy_text)
      })
    })
  }
})

describe.concurrent('streamed stdout is valid UTF-8', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true })
  const cases: [string, string[]][] = [
    [
      'default model, sampled',
      ['Once upon a time', '--temperature', '1', '--seed', '3', '--max-new-tokens', '200'],
    ],
    ['llama-tiny (byte fallback)', [goldenOf('llama-tiny').prompts[0], ...greedy('llama-tiny')]],
    [
      'gpt2-tiny (byte level)',
      ['naïve café 😀', '-m', golden('gpt2-tiny'), '--temperature', '1', '--seed', '1'],
    ],
    [
      'qwen2-tiny (byte level)',
      ['你好，世界', '-m', golden('qwen2-tiny'), '--temperature', '1', '--seed', '2'],
    ],
  ]
  for (const [label, args] of cases) {
    it(label, async () => {
      const r = await runKiln(['generate', ...args])
      expect(r.status, r.stderr).toBe(0)
      expect(() => fatal.decode(r.stdoutBytes)).not.toThrow()
      // Each write is whole characters, so every piece the pipe delivered decodes on its own.
      for (const c of r.chunks) expect(() => fatal.decode(c)).not.toThrow()
    })
  }
})

describe.concurrent('stop strings and characters outside the BMP', () => {
  // A gpt2-tiny copy whose token 1 ("!", generated greedily 24 times for prompt 1) reads "😀":
  // two UTF-16 units, so holding back len(stop) − 1 units can fall between them.
  const g = goldenOf('gpt2-tiny')
  const dir = copyModel('gpt2-tiny')
  editJson(path.join(dir, 'tokenizer.json'), (t) => {
    const vocab = (t.model as { vocab: Record<string, number> }).vocab
    delete vocab['!']
    vocab['ðŁĺĢ'] = 1 // the byte-level spelling of F0 9F 98 80
  })
  const args = [g.prompts[1], '-m', dir, '--temperature', '0', '--max-new-tokens', '6']

  for (const stop of ['ab', 'abc', 'abcd']) {
    it(`--stop ${stop}: the streamed text keeps every emoji whole`, async () => {
      const [r, j] = await Promise.all([runKiln(['generate', ...args, '--stop', stop]), generateJson(args)])
      expect(j.tokens).toEqual(g.single[1].greedy_new_ids.slice(0, 6))
      expect(j.text).toBe('😀'.repeat(6))
      expect(r.status, r.stderr).toBe(0)
      expect(r.stdout).toBe(`${'😀'.repeat(6)}\n`)
      for (const c of r.chunks)
        expect(new TextDecoder('utf-8', { fatal: true }).decode(c)).not.toContain('\ufffd')
    })
  }

  it('a stop string of emoji cuts before it', async () => {
    const [r, j] = await Promise.all([
      runKiln(['generate', ...args, '--stop', '😀😀😀']),
      generateJson([...args, '--stop', '😀😀😀']),
    ])
    expect(j.finish_reason).toBe('stop')
    expect(j.text).toBe('')
    expect(j.tokens).toHaveLength(3)
    expect(r.stdout).toBe('\n')
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
  for (const name of ['llama-tiny', 'qwen2-tiny']) {
    it(`${name}: one JSON line per prompt, equal to single runs and to the golden ids`, async () => {
      const g = goldenOf(name)
      const file = path.join(makeTempDir(), 'prompts.jsonl')
      writeFileSync(file, `${g.prompts.map((prompt) => JSON.stringify({ prompt })).join('\n')}\n`)
      const [r, ...singles] = await Promise.all([
        runKiln(['generate', '--prompts-file', file, ...greedy(name)]),
        ...g.prompts.map((prompt) => generateJson([prompt, ...greedy(name)])),
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
  }

  it('prompts of different lengths finish independently', async () => {
    const file = path.join(makeTempDir(), 'prompts.jsonl')
    writeFileSync(file, '{"prompt": "Once"}\n\n{"prompt": "Once upon a time there was a"}\n')
    const prompts = ['Once', 'Once upon a time there was a']
    const args = ['--temperature', '0', '--max-new-tokens', '7']
    const [r, ...singles] = await Promise.all([
      runKiln(['generate', '--prompts-file', file, ...args]),
      ...prompts.map((prompt) => generateJson([prompt, ...args])),
    ])
    expect(r.status, r.stderr).toBe(0)
    const lines = jsonLines<GenerateJson>(r)
    expect(lines.map((l) => l.completion_tokens)).toEqual([7, 7])
    expect(lines[0].prompt_tokens).toBeLessThan(lines[1].prompt_tokens)
    prompts.forEach((_, i) => {
      expect(lines[i].tokens).toEqual(singles[i].tokens)
      expect(lines[i].text).toBe(singles[i].text)
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

describe.concurrent('--stop', () => {
  // llama3-tiny's greedy continuation of prompt 0 is " is" × 16, then "ve" × 8.
  const g = goldenOf('llama3-tiny')
  const prompt = g.prompts[0]
  const full = g.single[0].greedy_text

  it('cuts the text before the stop string and reports finish_reason "stop"', async () => {
    const j = await generateJson([prompt, ...greedy('llama3-tiny'), '--stop', 've'])
    expect(full).toContain('ve')
    expect(j.finish_reason).toBe('stop')
    expect(j.text).toBe(full.slice(0, full.indexOf('ve')))
    expect(j.tokens).toEqual(g.single[0].greedy_new_ids.slice(0, j.tokens.length))
    expect(j.completion_tokens).toBe(j.tokens.length)
    expect(j.completion_tokens).toBeLessThan(24)
  })

  it('a stop string spanning tokens is never streamed, not even in part', async () => {
    const stop = ' isve'
    const expected = full.slice(0, full.indexOf(stop))
    const args = [prompt, ...greedy('llama3-tiny'), '--stop', stop]
    const [streamed, j] = await Promise.all([runKiln(['generate', ...args]), generateJson(args)])
    expect(streamed.status).toBe(0)
    expect(streamed.stdout).toBe(`${expected}\n`)
    expect(streamed.stderr).toMatch(/\(stop\)\n$/)
    expect(j.text).toBe(expected)
    expect(j.finish_reason).toBe('stop')
  })

  it('with several stop strings the earliest match wins', async () => {
    const j = await generateJson([prompt, ...greedy('llama3-tiny'), '--stop', 'veve', '--stop', 'is is is'])
    expect(j.finish_reason).toBe('stop')
    expect(j.text).toBe(full.slice(0, full.indexOf('is is is')))
  })

  it('a stop string that never appears leaves finish_reason "length"', async () => {
    const j = await generateJson([prompt, ...greedy('llama3-tiny'), '--stop', 'xyzzy'])
    expect(j.finish_reason).toBe('length')
    expect(j.text).toBe(full)
  })
})

describe.concurrent('EOS and --min-new-tokens', () => {
  // A llama-tiny copy whose EOS is the first token it generates greedily for prompt 0.
  const g = goldenOf('llama-tiny')
  const first = g.single[0].greedy_new_ids[0]
  const dir = copyModel('llama-tiny')
  editJson(path.join(dir, 'generation_config.json'), (c) => {
    c.eos_token_id = first
  })

  it('stops at EOS at once (finish_reason "eos")', async () => {
    const j = await generateJson([g.prompts[0], '-m', dir, '--temperature', '0', '--max-new-tokens', '24'])
    expect(j.finish_reason).toBe('eos')
    expect(j.tokens).toEqual([first])
    expect(j.completion_tokens).toBe(1)
    expect(j.text).toBe('')
  })

  it('--min-new-tokens holds EOS back', async () => {
    const j = await generateJson([
      g.prompts[0],
      '-m',
      dir,
      '--temperature',
      '0',
      '--max-new-tokens',
      '24',
      '--min-new-tokens',
      '3',
    ])
    expect(j.completion_tokens).toBeGreaterThanOrEqual(3)
    expect(j.tokens.slice(0, 3)).not.toContain(first)
    if (j.finish_reason === 'eos') expect(j.tokens.at(-1)).toBe(first)
  })
})

describe.concurrent('sampling flags', () => {
  const base = ['Once upon a time', '--max-new-tokens', '32']

  it('the same --seed gives the same tokens; another seed other tokens', async () => {
    const [a, b, c] = await Promise.all(
      ['7', '7', '8'].map((seed) => generateJson([...base, '--temperature', '1', '--seed', seed])),
    )
    expect(b.tokens).toEqual(a.tokens)
    expect(b.text).toBe(a.text)
    expect(c.tokens).not.toEqual(a.tokens)
  })

  it('--temperature 0 is greedy whatever the seed', async () => {
    const [a, b] = await Promise.all(
      ['1', '2'].map((seed) => generateJson([...base, '--temperature', '0', '--seed', seed])),
    )
    expect(b.tokens).toEqual(a.tokens)
  })

  it('--top-k 1, a tiny --top-p and --min-p 1 all reduce sampling to greedy', async () => {
    const g = goldenOf('qwen2-tiny')
    const want = g.single[1].greedy_new_ids
    const flags = [
      ['--top-k', '1'],
      ['--top-p', '0.000001'],
      ['--min-p', '1'],
    ]
    const model = [
      '-m',
      golden('qwen2-tiny'),
      '--max-new-tokens',
      '24',
      '--temperature',
      '1.5',
      '--seed',
      '5',
    ]
    const runs = await Promise.all(flags.map((flag) => generateJson([g.prompts[1], ...model, ...flag])))
    runs.forEach((j, i) => {
      expect(j.tokens, flags[i].join(' ')).toEqual(want)
    })
  })

  it('--repetition-penalty changes a repetitive greedy continuation', async () => {
    // qwen2-tiny repeats " is" greedily for prompt 0.
    const g = goldenOf('qwen2-tiny')
    const j = await generateJson([g.prompts[0], ...greedy('qwen2-tiny'), '--repetition-penalty', '5'])
    expect(j.tokens).not.toEqual(g.single[0].greedy_new_ids)
    expect(j.completion_tokens).toBe(24)
  })

  it('--threads 1 gives the same greedy tokens as the default', async () => {
    const g = goldenOf('llama-tiny')
    const j = await generateJson([g.prompts[1], ...greedy('llama-tiny'), '--threads', '1'])
    expect(j.tokens).toEqual(g.single[1].greedy_new_ids)
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

  for (const name of ['llama-tiny', 'qwen2-tiny']) {
    it(`${name}: applies chat_template.jinja to PROMPT as a user message`, async () => {
      const j = await generateJson([
        'Hello there',
        '-m',
        golden(name),
        '--chat',
        '--max-new-tokens',
        '4',
        '--temperature',
        '0',
      ])
      expect(j.prompt_tokens).toBe(chatPromptTokens(name, 'Hello there'))
      expect(j.completion_tokens).toBeGreaterThan(0)
    })

    it(`${name}: --system adds a system message`, async () => {
      const args = [
        'Hello there',
        '-m',
        golden(name),
        '--chat',
        '--max-new-tokens',
        '4',
        '--temperature',
        '0',
      ]
      const j = await generateJson([...args, '--system', 'You are terse.'])
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
