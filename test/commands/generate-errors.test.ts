// `kiln generate` on bad input: broken model folders, impossible prompts, bad flags. Each must end
// in one `kiln: <message>` line on stderr (or one {"error": …} object with --json) and exit 1
// (run-time) or 2 (usage), never a crash or a stack trace.
import { chmodSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  copyModel,
  editJson,
  editSafetensorsHeader,
  type GenerateJson,
  jsonOut,
  makeTempDir,
  removeTempDirs,
  runKiln,
} from '../helpers/cli.js'
import { expectCleanError, expectJsonError } from '../helpers/cli-errors.js'
import { golden } from '../helpers/fixtures.js'

afterAll(removeTempDirs)

const gen = (model: string, ...more: string[]) =>
  runKiln(['generate', 'The license is', '-m', model, ...more])

describe.concurrent('broken model folders (exit 1)', () => {
  it('a truncated model.safetensors', async () => {
    const sizes = [5, 100, 50_000]
    const runs = await Promise.all(
      sizes.map((size) => {
        const dir = copyModel('llama-tiny')
        truncateSync(path.join(dir, 'model.safetensors'), size)
        return gen(dir)
      }),
    )
    for (const r of runs) expectCleanError(r, 1, /model\.safetensors/)
  })

  it('a truncated model.safetensors, --json', async () => {
    const dir = copyModel('llama-tiny')
    truncateSync(path.join(dir, 'model.safetensors'), 50_000)
    const e = expectJsonError(await gen(dir, '--json'), 1, 'E_FORMAT')
    expect(e.message).toMatch(/model\.safetensors/)
  })

  it('a header whose data_offsets point past the end of the file', async () => {
    const dir = copyModel('llama-tiny')
    editSafetensorsHeader(path.join(dir, 'model.safetensors'), (h) => {
      const name = Object.keys(h).find((k) => k !== '__metadata__')!
      h[name].data_offsets[1] += 10_000_000
    })
    expectCleanError(await gen(dir), 1, /data_offsets|beyond|exceed/)
  })

  it('a header whose shape does not match its bytes', async () => {
    const dir = copyModel('llama-tiny')
    editSafetensorsHeader(path.join(dir, 'model.safetensors'), (h) => {
      h['model.embed_tokens.weight'].shape = [599, 65]
    })
    expectCleanError(await gen(dir), 1, /model\.embed_tokens\.weight/)
  })

  it('a header length larger than the file', async () => {
    const dir = copyModel('llama-tiny')
    const file = path.join(dir, 'model.safetensors')
    const bytes = Buffer.alloc(64)
    bytes.writeBigUInt64LE(1n << 40n)
    writeFileSync(file, bytes)
    expectCleanError(await gen(dir), 1, /header/)
  })

  it('weights that do not fit the config', async () => {
    const dir = copyModel('llama-tiny')
    editJson(path.join(dir, 'config.json'), (c) => {
      c.hidden_size = 128
    })
    expectCleanError(await gen(dir), 1, /shape/)
  })

  it('no weights at all', async () => {
    const dir = copyModel('llama-tiny')
    rmSync(path.join(dir, 'model.safetensors'))
    expectCleanError(await gen(dir), 1, /weights|safetensors/)
  })

  it('config.json without num_hidden_layers', async () => {
    const dir = copyModel('llama-tiny')
    editJson(path.join(dir, 'config.json'), (c) => {
      delete c.num_hidden_layers
    })
    expectCleanError(await gen(dir), 1, /num_hidden_layers/)
    const e = expectJsonError(await gen(dir, '--json'), 1, 'E_CONFIG')
    expect(e.message).toMatch(/num_hidden_layers/)
  })

  it('config.json with a field of the wrong type', async () => {
    const dir = copyModel('qwen2-tiny')
    editJson(path.join(dir, 'config.json'), (c) => {
      c.num_attention_heads = '4'
    })
    expectCleanError(await gen(dir), 1, /num_attention_heads/)
  })

  it('config.json that is not JSON', async () => {
    const dir = copyModel('gpt2-tiny')
    writeFileSync(path.join(dir, 'config.json'), '{"model_type": "gpt2",')
    expectCleanError(await gen(dir), 1, /config\.json/)
  })

  it('an unsupported architecture names the supported ones', async () => {
    const dir = copyModel('llama-tiny')
    editJson(path.join(dir, 'config.json'), (c) => {
      c.model_type = 't5'
      c.architectures = ['T5ForConditionalGeneration']
    })
    const line = expectCleanError(await gen(dir), 1, /unsupported architecture "t5"/)
    for (const arch of ['llama', 'qwen2', 'gpt2']) expect(line).toContain(arch)
    expectJsonError(await gen(dir, '--json'), 1, 'E_UNSUPPORTED_ARCH')
  })

  it('the golden bert-tiny encoder is refused as what it is', async () => {
    expectCleanError(await gen(golden('bert-tiny')), 1, /"bert" is an encoder .*, not a text generator/)
  })

  it('a tokenizer.json of an unsupported kind (Unigram)', async () => {
    const dir = copyModel('llama-tiny')
    editJson(path.join(dir, 'tokenizer.json'), (t) => {
      ;(t.model as Record<string, unknown>).type = 'Unigram'
    })
    expectCleanError(await gen(dir), 1, /Unigram/)
  })

  it('no tokenizer.json', async () => {
    const dir = copyModel('llama-tiny')
    rmSync(path.join(dir, 'tokenizer.json'))
    expectCleanError(await gen(dir), 1, /tokenizer\.json/)
  })
})

describe.concurrent('model paths that are not model folders (exit 1)', () => {
  it('a folder that does not exist', async () => {
    const missing = path.join(makeTempDir(), 'no-such-model')
    expectCleanError(await gen(missing), 1, /no-such-model/)
    expectJsonError(await gen(missing, '--json'), 1)
  })

  it('a file that is neither a folder nor GGUF', async () => {
    expectCleanError(
      await gen(path.join(golden('llama-tiny'), 'config.json')),
      1,
      /not a GGUF file \(expected a model folder or a \.gguf file\)/,
    )
  })

  it('a folder without config.json', async () => {
    const dir = makeTempDir()
    mkdirSync(path.join(dir, 'empty'))
    expectCleanError(await gen(path.join(dir, 'empty')), 1, /config\.json/)
  })

  // root reads through any permission bits, so this only means something for other users.
  it.skipIf(process.getuid?.() === 0)('a folder without read permission', async () => {
    const dir = copyModel('llama-tiny')
    chmodSync(dir, 0o000)
    try {
      expectCleanError(await gen(dir), 1)
    } finally {
      chmodSync(dir, 0o755)
    }
  })
})

describe.concurrent('prompts that do not fit the context', () => {
  it('a prompt longer than the context (exit 1)', async () => {
    // llama-tiny has max_position_embeddings 256.
    const r = await runKiln(['generate', 'hello world '.repeat(200), '-m', golden('llama-tiny')])
    expectCleanError(r, 1, /256/)
    const j = await runKiln(['generate', 'hello world '.repeat(200), '-m', golden('llama-tiny'), '--json'])
    expectJsonError(j, 1, 'E_INPUT')
  })

  it('a prompt longer than a small context from config.json', async () => {
    const dir = copyModel('llama-tiny')
    editJson(path.join(dir, 'config.json'), (c) => {
      c.max_position_embeddings = 8
    })
    expectCleanError(await gen(dir), 1, /context/) // "The license is" is 9 tokens
  })

  it('generation that reaches the end of the context stops with finish_reason "length"', async () => {
    const dir = copyModel('llama-tiny')
    editJson(path.join(dir, 'config.json'), (c) => {
      c.max_position_embeddings = 16
    })
    const r = await gen(dir, '--temperature', '0', '--max-new-tokens', '24', '--json')
    expect(r.status, r.stderr).toBe(0)
    const j = jsonOut<GenerateJson>(r)
    expect(j.prompt_tokens).toBe(9)
    expect(j.completion_tokens).toBe(16 - 9)
    expect(j.finish_reason).toBe('length')
  })
})

describe.concurrent('bad flags (exit 2)', () => {
  const cases: [string, string[], RegExp][] = [
    ['--threads 0', ['--threads', '0'], /threads/],
    ['--threads 1.5', ['--threads', '1.5'], /threads.*1\.5/],
    ['--temperature abc', ['--temperature', 'abc'], /temperature.*abc/],
    ['--temperature -1', ['--temperature', '-1'], /temperature/],
    ['--top-p 2', ['--top-p', '2'], /top-p/],
    ['--min-p 1.5', ['--min-p', '1.5'], /min-p/],
    ['--top-k -1', ['--top-k', '-1'], /top-k.*-1/],
    ['--repetition-penalty 0', ['--repetition-penalty', '0'], /repetition-penalty/],
    ['--max-new-tokens abc', ['--max-new-tokens', 'abc'], /max-new-tokens.*abc/],
    ['--stop ""', ['--stop', ''], /stop/],
    ['--temperature without a value', ['--temperature'], /temperature/],
    ['an unknown flag', ['--frobnicate'], /frobnicate/],
    ['an extra argument', ['extra'], /extra/],
  ]
  for (const [label, flags, message] of cases) {
    it(label, async () => {
      expectCleanError(await runKiln(['generate', 'hello', ...flags]), 2, message)
    })
  }

  it('a bad flag is reported before the model is loaded, even with a missing model', async () => {
    const missing = path.join(makeTempDir(), 'missing')
    const flags = [
      ['--threads', '0'],
      ['--top-p', '2'],
      ['--stop', ''],
      ['--system', 'x'],
    ]
    const runs = await Promise.all(flags.map((f) => runKiln(['generate', 'hello', '-m', missing, ...f])))
    runs.forEach((r, i) => {
      expectCleanError(r, 2, new RegExp(flags[i][0]))
    })
  })

  it('--json errors are one {"error": {code, message}} object on stdout', async () => {
    const flags = [['--threads', '0'], ['--frobnicate'], ['--top-k', '-1']]
    const runs = await Promise.all(flags.map((f) => runKiln(['generate', 'hello', ...f, '--json'])))
    for (const r of runs) expectJsonError(r, 2, 'E_USAGE')
  })
})
