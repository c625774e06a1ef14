// finetune.* settings: every `kiln finetune` flag has a key (KILN_FINETUNE_* too), resolved flag >
// environment > settings file > default, held to the schema's rules with one line naming the source.
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  DEFAULT_LR,
  defaultOutput,
  FINETUNE_SETTING_FLAGS,
  resolveFinetuneOptions,
  settingKeyOf,
} from '../../../src/cli/finetune-options.js'
import { findKey, loadSettings, resolveSetting } from '../../../src/cli/settings/index.js'
import { UsageError } from '../../../src/core/errors.js'
import { removeTempDirs } from '../../helpers/cli.js'
import { sandbox } from '../../helpers/settings-sandbox.js'

afterAll(removeTempDirs)

function withData(extra: NodeJS.ProcessEnv = {}) {
  const s = sandbox(extra)
  const data = path.join(s.dir, 'train.jsonl')
  writeFileSync(data, '{"text": "hello"}\n')
  return { ...s, data }
}

async function usage(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError)
    return (e as Error).message
  }
  throw new Error('expected a usage error')
}

describe('finetune settings', () => {
  it('has a finetune.* key and a KILN_FINETUNE_* variable for every flag', () => {
    for (const flag of FINETUNE_SETTING_FLAGS) {
      const k = findKey(settingKeyOf(flag))
      expect(k, flag).toBeDefined()
      expect(k?.envNames[0]).toBe(`KILN_FINETUNE_${flag.replaceAll('-', '_').toUpperCase()}`)
    }
    expect(settingKeyOf('max-grad-norm')).toBe('finetune.max_grad_norm')
  })

  it('resolve from the environment, the file and the defaults', async () => {
    const s = sandbox({ KILN_FINETUNE_RANK: '8', KILN_FINETUNE_PACKING: 'yes' })
    s.write('version: 1\nfinetune:\n  lr: 0.001\n  schedule: linear\n  target: all-linear\n')
    const file = await loadSettings(s.file, s.env)
    const get = (key: string) => resolveSetting(key, { env: s.env, file })
    expect(await get('finetune.rank')).toMatchObject({ value: 8, source: 'env', from: 'KILN_FINETUNE_RANK' })
    expect(await get('finetune.packing')).toMatchObject({ value: true, source: 'env' })
    expect(await get('finetune.lr')).toMatchObject({ value: 0.001, source: 'file' })
    expect(await get('finetune.schedule')).toMatchObject({ value: 'linear', source: 'file' })
    expect(await get('finetune.seq_len')).toMatchObject({ value: 512, source: 'default' })
    expect(await get('finetune.alpha')).toMatchObject({ value: undefined, source: 'unset' })
    const bad = sandbox({ KILN_FINETUNE_DROPOUT: '1' })
    const message = await usage(resolveSetting('finetune.dropout', { env: bad.env, file }))
    expect(message).toBe('KILN_FINETUNE_DROPOUT: finetune.dropout must be a number ≥ 0 and < 1 (got 1)')
  })

  it('become the trainer options: flag > env > file > default', async () => {
    const s = withData({
      KILN_FINETUNE_EPOCHS: '3',
      KILN_FINETUNE_BATCH_SIZE: '2',
      KILN_RUNTIME_THREADS: '5',
    })
    s.write('version: 1\nfinetune:\n  epochs: 9\n  seed: 7\n  warmup: 0.1\n')
    const { options, hub } = await resolveFinetuneOptions(
      { data: s.data, 'batch-size': '6', rank: '4' },
      s.env,
    )
    expect(options).toMatchObject({
      data: s.data,
      method: 'lora',
      rank: 4,
      alpha: 8, // 2 × rank
      epochs: 3, // env over file
      batchSize: 6, // flag over env
      seed: 7, // file over default
      warmup: 0.1,
      lr: DEFAULT_LR.lora,
      seqLen: 512,
      threads: 5, // runtime.threads when finetune.threads is unset
      resume: false,
      force: false,
    })
    expect(options.model).toBeUndefined()
    expect(options.target).toBeUndefined() // unset: the trainer takes the model family's (PEFT's)
    expect(options.out).toBe(path.resolve('default-lora'))
    expect(hub.cacheDir).toBe(path.join(s.dir, 'hf', 'hub'))
  })

  it('choose the learning rate by method and leave LoRA settings out of a full run', async () => {
    const s = withData({ KILN_FINETUNE_METHOD: 'full' })
    const { options } = await resolveFinetuneOptions({ data: s.data, model: 'Qwen/Qwen2-0.5B@main' }, s.env)
    expect(options.lr).toBe(2e-5)
    expect(options.rank).toBeUndefined()
    expect(options.target).toBeUndefined()
    expect(options.out).toBe(path.resolve('Qwen2-0.5B-full'))
    expect(defaultOutput('./models/gpt2.gguf', 'lora')).toBe(path.resolve('gpt2-lora'))
    const lr = await resolveFinetuneOptions({ data: s.data, lr: '3e-5' }, s.env)
    expect(lr.options.lr).toBe(3e-5)
    expect(await usage(resolveFinetuneOptions({ data: s.data, rank: '8' }, s.env))).toBe(
      '--rank applies to --method lora only',
    )
  })

  it('refuse bad values in one line that names the flag, variable or file', async () => {
    const s = withData()
    const run = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
      usage(resolveFinetuneOptions({ data: s.data, ...flags }, { ...s.env, ...env }))
    expect(await run({ rank: '0' })).toBe('--rank must be an integer ≥ 1 (got 0)')
    expect(await run({ rank: '1.5' })).toBe('--rank must be an integer ≥ 1 (got 1.5)')
    expect(await run({ lr: '0' })).toBe('--lr must be a number > 0 (got 0)')
    expect(await run({ lr: 'fast' })).toBe('--lr must be a number > 0 (got "fast")')
    expect(await run({ dropout: '1' })).toBe('--dropout must be a number ≥ 0 and < 1 (got 1)')
    expect(await run({ 'eval-split': '1' })).toBe('--eval-split must be a number > 0 and < 1 (got 1)')
    expect(await run({ 'max-steps': '-3' })).toBe('--max-steps must be an integer ≥ 1 (got -3)')
    expect(await run({ warmup: '2.5' })).toBe(
      '--warmup must be a whole number of steps, or a fraction of them below 1 (got 2.5)',
    )
    expect(await run({}, { KILN_FINETUNE_SEQ_LEN: '1' })).toBe(
      'KILN_FINETUNE_SEQ_LEN: finetune.seq_len must be an integer ≥ 2 (got 1)',
    )
    expect(await run({ target: ' , ' })).toBe('--target names no module (got " , ")')
    expect(await run({ target: 'all-linear,q_proj' })).toMatch(/^--target: all-linear stands alone/)
    expect(await run({ resume: true, force: true })).toBe('give --resume or --force, not both')
    expect(await run({ 'eval-split': '0.1' }, { KILN_FINETUNE_EVAL: s.data })).toBe(
      'give KILN_FINETUNE_EVAL or --eval-split, not both',
    )
    expect(await run({ eval: path.join(s.dir, 'missing.jsonl') })).toMatch(
      /^--eval .*missing\.jsonl: no such file$/,
    )
    expect(await usage(resolveFinetuneOptions({}, s.env))).toMatch(/^no training data: give --data FILE/)
  })

  it('take the data file from the settings when --data is not given', async () => {
    const s = withData()
    s.write(`version: 1\nfinetune:\n  data: ${s.data}\n  packing: true\n`)
    const { options } = await resolveFinetuneOptions({ packing: false }, s.env)
    expect(options.data).toBe(s.data)
    expect(options.packing).toBe(false) // --no-packing over the file
  })
})
