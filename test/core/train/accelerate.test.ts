// finetuneAccelerate() against a stand-in `accelerate` on PATH (accelerate-standin.ts): kiln writes
// the examples its own pipeline makes (assistant-only labels for chat data), the hyperparameters as
// TrainingArguments, a training script Python can compile and an accelerate config, launches
// `accelerate launch --config_file CFG train.py HPARAMS`, streams the script's JSON lines
// as its progress events and metrics, and refuses clearly without accelerate or when it fails.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { KilnError, UsageError } from '../../../src/core/errors.js'
import { readLoraAdapter } from '../../../src/core/formats/peft.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { finetuneAccelerate } from '../../../src/core/train/accelerate/index.js'
import { IGNORE, loadTrainData } from '../../../src/core/train/data/index.js'
import { readMetrics } from '../../../src/core/train/report/metrics-file.js'
import type { FinetuneEvent } from '../../../src/core/train/types.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'
import { pythonStandin } from './accelerate-pystubs.js'
import { standinBin, standinEnv } from './accelerate-standin.js'

afterAll(() => removeTempDirs())

const MODEL = golden('llama-tiny')
const ADAPTER = golden('lora/adapter_after_5_steps')

const CHATS = [
  [
    { role: 'user', content: 'What is a fox?' },
    { role: 'assistant', content: 'A quick brown animal.' },
  ],
  [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Name a dog.' },
    { role: 'assistant', content: 'Rex.' },
    { role: 'user', content: 'Another?' },
    { role: 'assistant', content: 'Fido, who is lazy.' },
  ],
  [
    { role: 'user', content: 'Why is free software good?' },
    { role: 'assistant', content: 'It respects the freedom of its users.' },
  ],
  [
    { role: 'user', content: 'What does git keep?' },
    { role: 'assistant', content: 'Every version of every file.' },
  ],
  [
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Hello! How can I help you today, my friend?' },
  ],
]

function chatFile(): string {
  const file = path.join(makeTempDir(), 'chats.jsonl')
  writeFileSync(file, `${CHATS.map((messages) => JSON.stringify({ messages })).join('\n')}\n`)
  return file
}

interface Recorded {
  args: string[]
  cwd: string
  config: string
  deepspeed: Record<string, unknown> | null
  hparams: Record<string, unknown> & { training_args: Record<string, unknown> }
  script: string
  train: string
  eval: string | null
  unbuffered: string
}

function setup(extra: NodeJS.ProcessEnv = {}) {
  const dir = makeTempDir()
  const record = path.join(dir, 'record.json')
  const env = standinEnv(standinBin(), record, ADAPTER, extra)
  return { dir, record, env, recorded: () => JSON.parse(readFileSync(record, 'utf8')) as Recorded }
}

const jsonl = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l))

const python = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' })
const hasPython = python.status === 0 && python.stdout.trim() === '3'

describe('finetune --launcher accelerate', () => {
  it('writes kiln-tokenized examples, hyperparameters, a script and a config, and streams the run', async () => {
    const s = setup()
    const data = chatFile()
    const out = path.join(s.dir, 'adapter')
    const events: FinetuneEvent[] = []
    const other: string[] = []
    const r = await finetuneAccelerate(
      {
        model: MODEL,
        data,
        out,
        rank: 4,
        alpha: 16,
        dropout: 0.05,
        target: ['q_proj', 'v_proj'],
        maxSteps: 4,
        batchSize: 2,
        gradAccum: 2,
        lr: 1e-3,
        schedule: 'linear',
        warmup: 0.5,
        weightDecay: 0.01,
        maxGradNorm: 0.5,
        seqLen: 48,
        evalSplit: 0.2,
        evalEvery: 2,
        saveEvery: 2,
        seed: 11,
        numProcesses: 2,
        mixedPrecision: 'bf16',
        merge: true,
      },
      (e) => events.push(e),
      undefined,
      { env: s.env, onOutput: (l) => other.push(l) },
    )
    const got = s.recorded()
    const dir = path.join(out, 'accelerate')
    expect(got.args).toEqual([
      'launch',
      '--config_file',
      path.join(dir, 'accelerate_config.yaml'),
      path.join(dir, 'train.py'),
      path.join(dir, 'hparams.json'),
    ])
    expect(got.unbuffered).toBe('1')

    // The examples are kiln's own: the same ids, and labels only on the assistant's tokens.
    const source = openModelSource(MODEL)
    const mine = await loadTrainData(data, source.tokenizer, { seqLen: 48, evalSplit: 0.2 })
    const train = jsonl(got.train)
    expect(train).toEqual(mine.examples.map((e) => ({ input_ids: e.ids, labels: e.labels })))
    expect(jsonl(got.eval ?? '')).toEqual(mine.eval?.map((e) => ({ input_ids: e.ids, labels: e.labels })))
    for (const row of train) {
      expect(row.labels).toHaveLength(row.input_ids.length)
      expect(row.labels).toContain(IGNORE) // the user's turn is not learned
      expect(row.labels.some((l: number) => l !== IGNORE)).toBe(true)
      expect(row.input_ids.length).toBeLessThanOrEqual(48)
    }

    // kiln's hyperparameters as TrainingArguments.
    expect(got.hparams).toMatchObject({
      model: path.resolve(MODEL),
      method: 'lora',
      out,
      seed: 11,
      mixed_precision: 'bf16',
      resume: false,
      lora: { r: 4, lora_alpha: 16, lora_dropout: 0.05, target_modules: ['q_proj', 'v_proj'] },
    })
    expect(got.hparams.training_args).toMatchObject({
      output_dir: path.join(dir, 'checkpoints'),
      max_steps: 4,
      per_device_train_batch_size: 2,
      gradient_accumulation_steps: 2,
      learning_rate: 1e-3,
      lr_scheduler_type: 'linear',
      warmup_steps: 2, // half of 4 steps, rounded up as HF's warmup_ratio
      weight_decay: 0.01,
      max_grad_norm: 0.5,
      seed: 11,
      bf16: true,
      fp16: false,
      eval_strategy: 'steps',
      eval_steps: 2,
      save_strategy: 'steps',
      save_steps: 2,
      logging_steps: 1,
    })
    expect(got.hparams.training_args.deepspeed).toBeUndefined()
    expect(parse(got.config)).toMatchObject({
      compute_environment: 'LOCAL_MACHINE',
      distributed_type: 'MULTI_GPU',
      num_processes: 2,
      num_machines: 1,
      mixed_precision: 'bf16',
    })
    expect(parse(got.config).deepspeed_config).toBeUndefined()
    expect(got.script).toContain('get_peft_model')
    expect(got.script).toContain('TrainingArguments(**cfg["training_args"])')

    // The stand-in's lines became kiln's events, its other lines went to onOutput.
    expect(events.map((e) => e.type)).toEqual([
      'start',
      'step',
      'step',
      'save',
      'step',
      'step',
      'save',
      'eval',
    ])
    expect(events[0]).toMatchObject({
      type: 'start',
      method: 'lora',
      totalSteps: 4,
      trainableParameters: 1234,
    })
    const steps = events.filter((e) => e.type === 'step')
    expect(steps.map((e) => e.loss)).toEqual([2.9, 2.8, 2.7, 2.6])
    expect(steps[3]).toMatchObject({ step: 4, totalSteps: 4, lr: 1e-3, gradNorm: 0.5, tokens: 400 })
    expect(other).toEqual(['{"not": "an event"}', 'a warning from transformers'])
    expect(r).toMatchObject({ out, method: 'lora', steps: 4, finalLoss: 2.6, evalLoss: 2.5 })
    expect(readMetrics(r.metricsFile).map((m) => m.type)).toEqual(['step', 'step', 'step', 'step', 'eval'])
    expect(readFileSync(r.lossCurveFile, 'utf8')).toContain('<svg')
    // OUT is the adapter `kiln generate --adapter` loads, and --merge folded it in.
    expect(readLoraAdapter(out).rank).toBeGreaterThan(0)
    expect(existsSync(path.join(out, 'merged', 'model.safetensors'))).toBe(true)
  })

  it.skipIf(!hasPython)('writes a training script that Python compiles', async () => {
    const s = setup()
    const out = path.join(s.dir, 'out')
    await finetuneAccelerate(
      { model: MODEL, data: chatFile(), out, maxSteps: 1, seqLen: 32 },
      () => {},
      undefined,
      {
        env: s.env,
      },
    )
    const script = path.join(out, 'accelerate', 'train.py')
    const r = spawnSync('python3', ['-m', 'py_compile', script], {
      encoding: 'utf8',
      env: { ...process.env, PYTHONPYCACHEPREFIX: path.join(s.dir, 'pycache') },
    })
    expect(r.status, r.stderr).toBe(0)
  })

  it.skipIf(!hasPython)(
    'runs the real script end to end over stand-ins for torch, transformers and peft',
    async () => {
      const py = pythonStandin(ADAPTER)
      const out = path.join(makeTempDir(), 'out')
      const opts = {
        model: MODEL,
        data: chatFile(),
        out,
        maxSteps: 3,
        batchSize: 2,
        gradAccum: 2,
        seqLen: 40,
        evalSplit: 0.2,
        saveEvery: 2,
      }
      const events: FinetuneEvent[] = []
      const other: string[] = []
      const r = await finetuneAccelerate(opts, (e) => events.push(e), undefined, {
        env: py.env,
        onOutput: (l) => other.push(l),
      })
      expect(other).toEqual([]) // no traceback, no stray output
      expect(events.map((e) => e.type)).toEqual(['start', 'step', 'step', 'save', 'step', 'eval'])
      expect(events[0]).toMatchObject({ type: 'start', totalSteps: 3, startStep: 0, trainableParameters: 64 })
      const steps = events.filter((e) => e.type === 'step')
      expect(steps.map((e) => [e.step, e.loss, e.lr, e.gradNorm])).toEqual([
        [1, 2.9, 2e-4, 0.25],
        [2, 2.8, 2e-4, 0.25],
        [3, 2.7, 2e-4, 0.25],
      ])
      expect(steps[2].tokens).toBeGreaterThan(0)
      expect(r).toMatchObject({ steps: 3, finalLoss: 2.7, evalLoss: 2.25, trainableParameters: 64 })
      expect(readLoraAdapter(out).rank).toBeGreaterThan(0)
      expect(existsSync(path.join(out, 'training_args.bin'))).toBe(false)
      const stub = JSON.parse(readFileSync(path.join(out, 'accelerate', 'stub.json'), 'utf8'))
      expect(stub.lora).toEqual({
        r: 16,
        lora_alpha: 32,
        lora_dropout: 0,
        target_modules: ['q_proj', 'v_proj'],
        bias: 'none',
        task_type: 'CAUSAL_LM',
      })
      expect(stub.args).toMatchObject({ max_steps: 3, gradient_accumulation_steps: 2, save_steps: 2 })

      // Resumed: the script resumes from checkpoint-2, and metrics.jsonl keeps steps 1 and 2.
      const resumed: FinetuneEvent[] = []
      await finetuneAccelerate({ ...opts, resume: true }, (e) => resumed.push(e), undefined, { env: py.env })
      expect(resumed[0]).toMatchObject({ type: 'start', startStep: 2 })
      expect(readMetrics(path.join(out, 'metrics.jsonl')).map((m) => [m.type, m.step])).toEqual([
        ['step', 1],
        ['step', 2],
        ['step', 3],
        ['eval', 3],
      ])
    },
  )

  it('passes a ZeRO config through accelerate, and resumes from the last checkpoint', async () => {
    const s = setup()
    const data = chatFile()
    const out = path.join(s.dir, 'out')
    const opts = {
      model: MODEL,
      data,
      out,
      method: 'full' as const,
      maxSteps: 4,
      batchSize: 1,
      seqLen: 32,
      saveEvery: 2,
      deepspeed: 3 as const,
      mixedPrecision: 'fp16' as const,
    }
    // The stand-in writes an adapter, not a model folder: the run is refused for that, after the launch.
    await expect(finetuneAccelerate(opts, () => {}, undefined, { env: s.env })).rejects.toThrow(
      /finished but .* holds no config\.json/,
    )
    const got = s.recorded()
    const config = parse(got.config)
    const dsFile = path.join(out, 'accelerate', 'deepspeed.json')
    expect(config).toMatchObject({
      distributed_type: 'DEEPSPEED',
      num_processes: 1,
      deepspeed_config: { deepspeed_config_file: dsFile, zero3_init_flag: true },
    })
    // accelerate refuses mixed_precision in its config beside a DeepSpeed file: the file's "auto"
    // precision is filled by the Trainer from fp16/bf16.
    expect(config.mixed_precision).toBeUndefined()
    expect(got.hparams.training_args).toMatchObject({ deepspeed: dsFile, fp16: true, bf16: false })
    expect(got.hparams.lora).toBeUndefined()
    expect(got.deepspeed).toMatchObject({
      zero_optimization: { stage: 3, stage3_gather_16bit_weights_on_model_save: true },
      train_micro_batch_size_per_gpu: 'auto',
      gradient_accumulation_steps: 'auto',
    })

    // A LoRA run with checkpoints, resumed: the script is told to resume, kiln's metrics keep the
    // steps up to the checkpoint and the resumed steps follow.
    const lora = { model: MODEL, data, out: path.join(s.dir, 'lora'), maxSteps: 4, seqLen: 32, saveEvery: 3 }
    await finetuneAccelerate(lora, () => {}, undefined, { env: s.env })
    const events: FinetuneEvent[] = []
    const r = await finetuneAccelerate({ ...lora, resume: true }, (e) => events.push(e), undefined, {
      env: s.env,
    })
    expect(s.recorded().hparams.resume).toBe(true)
    expect(events[0]).toMatchObject({ type: 'start', startStep: 3 })
    expect(readMetrics(r.metricsFile).map((m) => m.step)).toEqual([1, 2, 3, 4])
    await expect(
      finetuneAccelerate({ ...lora, resume: true, rank: 8 }, () => {}, undefined, { env: s.env }),
    ).rejects.toThrow(/trained with rank 16, not 8/)
  })

  it('refuses clearly without accelerate, and when accelerate fails', async () => {
    const s = setup()
    const data = chatFile()
    const out = path.join(s.dir, 'out')
    const noAccelerate = { ...s.env, PATH: path.join(s.dir, 'nothing-here') }
    const err = await finetuneAccelerate({ model: MODEL, data, out }, () => {}, undefined, {
      env: noAccelerate,
    }).catch((e) => e)
    expect(err).toBeInstanceOf(KilnError)
    expect(err.code).toBe('E_NO_ACCELERATE')
    expect(err.message).toBe(
      'no accelerate executable on PATH: install it where kiln runs (pip install accelerate transformers peft), or train with launcher kiln',
    )
    expect(existsSync(out)).toBe(false) // nothing written before the refusal

    const failing = { ...s.env, STANDIN_MODE: 'fail' }
    const failed = await finetuneAccelerate({ model: MODEL, data, out, maxSteps: 2 }, () => {}, undefined, {
      env: failing,
    }).catch((e) => e)
    expect(failed).toBeInstanceOf(KilnError)
    expect(failed.code).toBe('E_ACCELERATE_EXIT')
    expect(failed.message).toMatch(
      /^accelerate launch exited with code 1; its last output: .*torch\.OutOfMemoryError: CUDA out of memory/,
    )
    expect(failed.message).not.toContain('\n')

    await expect(
      finetuneAccelerate({ model: MODEL, data, out, packing: true, force: true }, () => {}, undefined, {
        env: s.env,
      }),
    ).rejects.toThrow(UsageError)
    await expect(
      finetuneAccelerate(
        { model: MODEL, data, out, deepspeed: 4 as never, force: true },
        () => {},
        undefined,
        {
          env: s.env,
        },
      ),
    ).rejects.toThrow('deepspeed must be a ZeRO stage: 1, 2 or 3 (got 4)')
  })

  it('passes an abort to the script, which stops after its step and saves', async () => {
    const s = setup({ STANDIN_MODE: 'slow' })
    const out = path.join(s.dir, 'out')
    const controller = new AbortController()
    const events: FinetuneEvent[] = []
    const r = await finetuneAccelerate(
      { model: MODEL, data: chatFile(), out, maxSteps: 50, seqLen: 32 },
      (e) => {
        events.push(e)
        if (e.type === 'step' && e.step === 2) controller.abort()
      },
      controller.signal,
      { env: s.env },
    )
    expect(r.steps).toBeGreaterThanOrEqual(2)
    expect(r.steps).toBeLessThan(10)
    expect(events.at(-1)).toMatchObject({ type: 'save', step: r.steps })
    // The script was asked through its stop file, not by a signal to the launcher.
    expect(s.recorded().hparams.stop_file).toBe(path.join(out, 'accelerate', 'stop'))
    expect(existsSync(path.join(out, 'accelerate', 'stop'))).toBe(true)
    expect(readLoraAdapter(out).rank).toBeGreaterThan(0)
  })
})
