// `kiln finetune --launcher accelerate` end to end, with the stand-in accelerate first on PATH
// (test/core/train/accelerate-standin.ts): the run streams as kiln's own --json events; without
// accelerate, with a failing one, or with accelerate's flags under --launcher kiln, one clear line.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { standinBin, standinEnv } from '../core/train/accelerate-standin.js'
import { makeTempDir, removeTempDirs, runKiln } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'

afterAll(() => removeTempDirs())

const MODEL = golden('llama-tiny')
const ADAPTER = golden('lora/adapter_after_5_steps')

function setup(extra: NodeJS.ProcessEnv = {}) {
  const dir = makeTempDir()
  const data = path.join(dir, 'train.jsonl')
  writeFileSync(
    data,
    `${['The quick brown fox.', 'Free software respects its users.', 'Git keeps every version.']
      .map((text) => JSON.stringify({ text }))
      .join('\n')}\n`,
  )
  const record = path.join(dir, 'record.json')
  // A settings file of its own, so the machine's does not leak in.
  const env = standinEnv(standinBin(), record, ADAPTER, {
    KILN_CONFIG: path.join(dir, 'kiln.yaml'),
    ...extra,
  })
  return { dir, data, record, env, out: path.join(dir, 'out') }
}

const base = (s: ReturnType<typeof setup>) => [
  'finetune',
  '-m',
  MODEL,
  '--data',
  s.data,
  '-o',
  s.out,
  '--max-steps',
  '3',
  '--seq-len',
  '32',
]

describe('kiln finetune --launcher accelerate', () => {
  it('streams the launched run as kiln --json events and ends with the adapter', async () => {
    const s = setup()
    const r = await runKiln(
      [...base(s), '--launcher', 'accelerate', '--num-processes', '2', '--mixed-precision', 'bf16', '--json'],
      { env: s.env },
    )
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l))
    expect(lines.map((l) => l.event)).toEqual(['start', 'step', 'step', 'step', 'done'])
    expect(lines[1]).toMatchObject({ event: 'step', step: 1, total_steps: 3, loss: 2.9 })
    expect(lines.at(-1)).toMatchObject({
      event: 'done',
      out: s.out,
      method: 'lora',
      steps: 3,
      final_loss: 2.7,
    })
    // The launcher's other output went to stderr.
    expect(r.stderr).toContain('a warning from transformers')
    const got = JSON.parse(readFileSync(s.record, 'utf8'))
    expect(got.hparams.training_args).toMatchObject({ max_steps: 3, bf16: true })
    expect(got.config).toContain('num_processes: 2')
    expect(existsSync(path.join(s.out, 'adapter_model.safetensors'))).toBe(true)
  })

  it('takes the launcher from finetune.engine (KILN_FINETUNE_ENGINE)', async () => {
    const s = setup({ KILN_FINETUNE_ENGINE: 'accelerate', KILN_FINETUNE_DEEPSPEED: '2' })
    const r = await runKiln([...base(s), '--quiet'], { env: s.env })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`${s.out}\n`)
    const got = JSON.parse(readFileSync(s.record, 'utf8'))
    expect(got.config).toContain('distributed_type: DEEPSPEED')
    expect(got.deepspeed.zero_optimization.stage).toBe(2)
  })

  it('refuses in one line: no accelerate, a failing launch, accelerate flags with kiln', async () => {
    const s = setup()
    const bare = { ...s.env, PATH: path.dirname(process.execPath) }
    const missing = await runKiln([...base(s), '--launcher', 'accelerate'], { env: bare })
    expect(missing.status).not.toBe(0)
    expect(missing.stdout).toBe('')
    expect(missing.stderr.trim().split('\n')).toHaveLength(1)
    expect(missing.stderr).toContain(
      'no accelerate executable on PATH: install it where kiln runs (pip install accelerate transformers peft), or train with --launcher kiln',
    )

    const failing = await runKiln([...base(s), '--launcher', 'accelerate', '--force', '--quiet'], {
      env: { ...s.env, STANDIN_MODE: 'fail' },
    })
    expect(failing.status).toBe(1)
    expect(failing.stderr.trim().split('\n')).toHaveLength(1)
    expect(failing.stderr).toMatch(
      /accelerate launch exited with code 1; its last output: .*CUDA out of memory/,
    )

    const kiln = await runKiln([...base(s), '--deepspeed', '2', '--force'], { env: s.env })
    expect(kiln.status).toBe(2)
    expect(kiln.stderr.trim().split('\n')).toHaveLength(1)
    expect(kiln.stderr).toContain('--deepspeed applies to --launcher accelerate only')

    const packing = await runKiln([...base(s), '--launcher', 'accelerate', '--packing', '--force'], {
      env: s.env,
    })
    expect(packing.status).toBe(2)
    expect(packing.stderr).toContain("--packing is kiln's own batching")

    const chunked = await runKiln(
      [...base(s), '--launcher', 'accelerate', '--loss-chunk', '4096', '--force'],
      {
        env: s.env,
      },
    )
    expect(chunked.status).toBe(2)
    expect(chunked.stderr.trim().split('\n')).toHaveLength(1)
    expect(chunked.stderr).toContain("--loss-chunk is kiln's own loss")
  })
})
