// finetune() handed to Hugging Face accelerate: kiln reads and tokenizes the data with its own
// pipeline (so the chat rendering, loss masks and truncation cannot drift), writes the examples,
// the hyperparameters, the training script and accelerate's config into OUT/accelerate, runs
// `accelerate launch`, and turns the script's JSON lines into its own progress events, metrics.jsonl
// and loss curve. OUT ends up as kiln's own run leaves it: a PEFT adapter or a model folder.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import nodePath from 'node:path'
import { KilnError, option, UsageError } from '../../errors.js'
import { readLoraAdapter } from '../../formats/peft.js'
import { MODEL_SIDECARS } from '../../models/sidecar-files.js'
import { openModelSource } from '../../runtime/model-source.js'
import { writeAll, writeFileAtomic } from '../../util/files.js'
import { BatchPlan, type SourcedExample } from '../data/index.js'
import { check, dataSummary, loadRunData, prepareOut, resolved } from '../finetune.js'
import { writeMergedModel } from '../outputs.js'
import { writeLossCurve } from '../report/loss-curve.js'
import { openMetricsFile, readMetrics } from '../report/metrics-file.js'
import { warmupSteps } from '../schedule.js'
import { defaultLoraTarget } from '../train-session.js'
import type { FinetuneEvent, FinetuneOptions, FinetuneResult } from '../types.js'
import { accelerateConfigYaml, deepspeedConfig, type MixedPrecision, type ZeroStage } from './config.js'
import { trainingHparams } from './hparams.js'
import { launchAccelerate, requireAccelerate } from './launch.js'
import { TRAIN_SCRIPT } from './script.js'

export interface AccelerateFinetuneOptions extends FinetuneOptions {
  /** Training processes, one per GPU (default 1). */
  numProcesses?: number
  /** Mixed precision of the run (default no). */
  mixedPrecision?: MixedPrecision
  /** DeepSpeed ZeRO stage, when the run is to be sharded with DeepSpeed. */
  deepspeed?: ZeroStage
}

export interface AccelerateIo {
  /** The environment accelerate is looked up in and runs with (default process.env). */
  env?: NodeJS.ProcessEnv
  /** A line the launcher wrote that is not one of the script's events (a warning, a traceback). */
  onOutput?: (line: string) => void
}

/** OUT/accelerate: what kiln writes for the launch, and the Trainer's checkpoints. */
export const ACCELERATE_DIR = 'accelerate'

/** The files in OUT/accelerate. */
export function accelerateFiles(out: string) {
  const dir = nodePath.join(out, ACCELERATE_DIR)
  return {
    dir,
    train: nodePath.join(dir, 'train.jsonl'),
    eval: nodePath.join(dir, 'eval.jsonl'),
    script: nodePath.join(dir, 'train.py'),
    hparams: nodePath.join(dir, 'hparams.json'),
    config: nodePath.join(dir, 'accelerate_config.yaml'),
    deepspeed: nodePath.join(dir, 'deepspeed.json'),
    checkpoints: nodePath.join(dir, 'checkpoints'),
    stop: nodePath.join(dir, 'stop'),
  }
}

const MIXED: readonly MixedPrecision[] = ['no', 'fp16', 'bf16']

function checkLaunch(opts: AccelerateFinetuneOptions): void {
  const n = opts.numProcesses ?? 1
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${option('numProcesses')} must be an integer ≥ 1 (got ${n})`)
  if (opts.mixedPrecision !== undefined && !MIXED.includes(opts.mixedPrecision))
    throw new UsageError(`${option('mixedPrecision')} must be no, fp16 or bf16 (got ${opts.mixedPrecision})`)
  if (opts.deepspeed !== undefined && ![1, 2, 3].includes(opts.deepspeed))
    throw new UsageError(`${option('deepspeed')} must be a ZeRO stage: 1, 2 or 3 (got ${opts.deepspeed})`)
  // Each packed micro-batch of kiln's holds a different number of sequences; the Trainer's batches
  // hold batchSize each. Training the same examples with other batches would not be kiln's run.
  if (opts.packing)
    throw new UsageError(
      `${option('packing')} is kiln's own batching; with ${option('launcher')} accelerate each batch holds ${option('batchSize')} padded sequences (leave ${option('packing')} out)`,
    )
  if (opts.lossChunk !== undefined)
    throw new UsageError(
      `${option('lossChunk')} is kiln's own loss; transformers' Trainer computes the whole logits (leave ${option('lossChunk')} out)`,
    )
}

/** One line per example: what the script trains on. */
function writeExamples(file: string, examples: readonly SourcedExample[]): void {
  writeFileAtomic(file, (fd) => {
    for (const e of examples)
      writeAll(fd, Buffer.from(`${JSON.stringify({ input_ids: e.ids, labels: e.labels })}\n`, 'utf8'))
  })
}

function writeText(file: string, text: string): void {
  writeFileAtomic(file, (fd) => writeAll(fd, Buffer.from(text, 'utf8')))
}

/** The step of the Trainer's last checkpoint (checkpoint-N), or undefined when there is none. */
export function lastCheckpointStep(dir: string): number | undefined {
  if (!existsSync(dir)) return undefined
  const steps = readdirSync(dir)
    .map((n) => /^checkpoint-(\d+)$/.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
  return steps.length ? Math.max(...steps) : undefined
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN)

/** Trains `opts.model` on `opts.data` under `accelerate launch`; see AccelerateFinetuneOptions. */
export async function finetuneAccelerate(
  opts: AccelerateFinetuneOptions,
  onEvent: (e: FinetuneEvent) => void = () => {},
  signal?: AbortSignal,
  io: AccelerateIo = {},
): Promise<FinetuneResult> {
  const o = resolved(opts)
  check(o)
  checkLaunch(opts)
  const numProcesses = opts.numProcesses ?? 1
  const mixedPrecision = opts.mixedPrecision ?? 'no'
  // Before anything is read or written: nothing here helps without it.
  const accelerate = requireAccelerate(io.env)
  const out = prepareOut(opts)
  const files = accelerateFiles(out)
  const resumeStep = opts.resume ? lastCheckpointStep(files.checkpoints) : undefined
  if (opts.resume && resumeStep === undefined)
    throw new UsageError(
      `${opts.out}: no accelerate checkpoint to resume from (${files.checkpoints} has no checkpoint-N)`,
    )

  const source = openModelSource(opts.model)
  if (source.format !== 'safetensors')
    throw new UsageError(
      `${opts.model}: training reads a Hugging Face model folder (safetensors), not a GGUF file`,
    )
  const target = o.target ?? defaultLoraTarget(source.config.architecture)
  const { data, evalExamples } = await loadRunData(opts, source.tokenizer, o.seqLen)
  // kiln's step count for these examples, with batchSize × numProcesses sequences per micro-batch.
  const plan = new BatchPlan(data.examples, {
    batchSize: o.batchSize * numProcesses,
    seqLen: o.seqLen,
    seed: o.seed,
  })
  const totalSteps = o.maxSteps ?? plan.totalSteps(o.epochs, o.gradAccum)
  const fingerprint = {
    method: o.method,
    ...(o.method === 'lora' ? { rank: o.rank, alpha: o.alpha, dropout: o.dropout, target } : {}),
    batchSize: o.batchSize,
    gradAccum: o.gradAccum,
    seqLen: o.seqLen,
    seed: o.seed,
    numProcesses,
    data: data.hub ? data.hub.id : nodePath.resolve(opts.data),
  }
  if (opts.resume) checkFingerprint(opts.out, files.hparams, fingerprint)

  mkdirSync(files.dir, { recursive: true })
  writeExamples(files.train, data.examples)
  if (evalExamples?.length) writeExamples(files.eval, evalExamples)
  writeText(files.script, TRAIN_SCRIPT)
  if (opts.deepspeed !== undefined)
    writeText(files.deepspeed, `${JSON.stringify(deepspeedConfig(opts.deepspeed), null, 2)}\n`)
  writeText(
    files.config,
    accelerateConfigYaml({
      numProcesses,
      mixedPrecision,
      deepspeed: opts.deepspeed,
      deepspeedFile: opts.deepspeed === undefined ? undefined : files.deepspeed,
    }),
  )
  const eos = source.tokenizer.eosToken
  const padTokenId = (eos === undefined ? undefined : source.tokenizer.tokenToId(eos)) ?? 0
  const hparams = trainingHparams({
    o: { ...o, target },
    model: nodePath.resolve(source.path),
    out,
    trainFile: files.train,
    evalFile: evalExamples?.length ? files.eval : undefined,
    totalSteps,
    warmupSteps: warmupSteps(o.warmup, totalSteps),
    checkpointDir: files.checkpoints,
    mixedPrecision,
    deepspeedFile: opts.deepspeed === undefined ? undefined : files.deepspeed,
    resume: opts.resume ?? false,
    padTokenId,
    stopFile: files.stop,
    fingerprint,
  })
  writeText(files.hparams, `${JSON.stringify(hparams, null, 2)}\n`)

  const metricsFile = nodePath.join(out, 'metrics.jsonl')
  const metrics = openMetricsFile(
    metricsFile,
    resumeStep !== undefined ? { keepThroughStep: resumeStep } : {},
  )
  const emit = (e: FinetuneEvent) => {
    metrics.write(e)
    onEvent(e)
  }
  const started = performance.now()
  let startStep = resumeStep ?? 0
  let trainable = 0
  let steps = startStep
  let lastLoss = Number.NaN
  let evalLoss: number | undefined
  let tokens = 0
  let tokensAtStart: number | undefined
  let done = false
  let result: Awaited<ReturnType<typeof launchAccelerate>>
  try {
    result = await launchAccelerate({
      accelerate,
      configFile: files.config,
      script: files.script,
      hparamsFile: files.hparams,
      stopFile: files.stop,
      cwd: files.dir,
      env: io.env,
      signal,
      onOutput: io.onOutput,
      onEvent(e) {
        const elapsedMs = performance.now() - started
        if (e.event === 'start') {
          trainable = num(e.trainable_parameters)
          startStep = Number.isFinite(num(e.start_step)) ? num(e.start_step) : startStep
          onEvent({
            type: 'start',
            method: o.method,
            totalSteps: Number.isFinite(num(e.total_steps)) ? num(e.total_steps) : totalSteps,
            trainableParameters: trainable,
            examples: data.examples.length,
            startStep,
            data: dataSummary(data, o.seqLen),
          })
        } else if (e.event === 'step') {
          steps = num(e.step)
          lastLoss = num(e.loss)
          if (Number.isFinite(num(e.tokens))) tokens = num(e.tokens)
          tokensAtStart ??= tokens
          const total = Number.isFinite(num(e.total_steps)) ? num(e.total_steps) : totalSteps
          const ran = Math.max(1, steps - startStep)
          emit({
            type: 'step',
            step: steps,
            totalSteps: total,
            loss: lastLoss,
            lr: num(e.lr),
            gradNorm: num(e.grad_norm),
            tokens,
            tokensPerSecond: (tokens - (tokensAtStart ?? 0)) / Math.max(1e-9, elapsedMs / 1000),
            elapsedMs,
            etaMs: (elapsedMs / ran) * Math.max(0, total - steps),
          })
        } else if (e.event === 'eval') {
          evalLoss = num(e.loss)
          emit({ type: 'eval', step: num(e.step), loss: evalLoss })
        } else if (e.event === 'save') onEvent({ type: 'save', step: num(e.step), dir: String(e.dir) })
        else if (e.event === 'done') done = true
      },
    })
  } finally {
    metrics.close()
  }
  // A launcher that had its workers stopped may report a failure of its own; the run saved.
  if (!done || (result.exitCode !== 0 && !result.stopped)) {
    const how =
      result.signal !== undefined
        ? `was ended by ${result.signal}`
        : result.exitCode !== 0
          ? `exited with code ${result.exitCode}`
          : 'exited without finishing the run'
    const last = result.tail.length ? `; its last output: ${result.tail.join(' | ')}` : ''
    throw new KilnError('E_ACCELERATE_EXIT', `accelerate launch ${how}${last}`)
  }
  const wrote = o.method === 'lora' ? 'adapter_config.json' : 'config.json'
  if (!existsSync(nodePath.join(out, wrote)))
    throw new KilnError('E_ACCELERATE_EXIT', `accelerate launch finished but ${out} holds no ${wrote}`)
  if (o.method === 'full')
    // The script trains on kiln's token ids and never loads a tokenizer: the folder gets the base's.
    for (const f of MODEL_SIDECARS) {
      const from = nodePath.join(source.path, f)
      if (existsSync(from) && !existsSync(nodePath.join(out, f))) copyFileSync(from, nodePath.join(out, f))
    }
  if (opts.merge) writeMergedModel(nodePath.join(out, 'merged'), source, readLoraAdapter(out), true)
  const lossCurveFile = nodePath.join(out, 'loss_curve.svg')
  writeLossCurve(lossCurveFile, readMetrics(metricsFile), {
    title: `kiln finetune (${o.method}, accelerate)`,
  })
  const elapsedMs = performance.now() - started
  return {
    out,
    method: o.method,
    steps,
    finalLoss: lastLoss,
    evalLoss,
    trainableParameters: trainable,
    tokensPerSecond: (tokens - (tokensAtStart ?? 0)) / Math.max(1e-9, elapsedMs / 1000),
    elapsedMs,
    metricsFile,
    lossCurveFile,
  }
}

/** A resume continues the run that wrote OUT/accelerate/hparams.json, with the same options. */
function checkFingerprint(out: string, file: string, fingerprint: Record<string, unknown>): void {
  let saved: Record<string, unknown> = {}
  try {
    saved =
      (JSON.parse(readFileSync(file, 'utf8')) as { fingerprint?: Record<string, unknown> }).fingerprint ?? {}
  } catch {
    return // no record of the earlier run's options: the Trainer's checkpoint decides
  }
  for (const [key, value] of Object.entries(fingerprint))
    if (JSON.stringify(saved[key]) !== JSON.stringify(value))
      throw new UsageError(
        `${out}: the checkpoint was trained with ${option(key)} ${JSON.stringify(saved[key])}, not ${JSON.stringify(value)}; resume with the same options`,
      )
}
