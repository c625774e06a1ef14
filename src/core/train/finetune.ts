// kiln finetune's engine side: data → micro-batches → native training steps → AdamW updates, with
// evaluation, checkpoints every saveEvery steps, resume, metrics.jsonl and a loss curve; then the
// PEFT adapter (LoRA) or the model folder (full) in OUT. Progress is reported as events.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import nodePath from 'node:path'
import { option, UsageError } from '../errors.js'
import { readLoraAdapter } from '../formats/peft.js'
import { openModelSource } from '../runtime/model-source.js'
import type { Tokenizer } from '../tokenizer/index.js'
import { loadCheckpoint, type RunState, saveCheckpoint } from './checkpoint.js'
import {
  BatchPlan,
  type DataPosition,
  loadTrainData,
  type MicroBatch,
  type SourcedExample,
  type TrainData,
} from './data/index.js'
import { initLora } from './lora-init.js'
import { writeAdapterOut, writeMergedModel, writeModelOut } from './outputs.js'
import { writeLossCurve } from './report/loss-curve.js'
import { openMetricsFile, readMetrics } from './report/metrics-file.js'
import { learningRate, warmupSteps } from './schedule.js'
import { autoLossChunk, checkTrainable, defaultLoraTarget, TrainSession } from './train-session.js'
import type { FinetuneEvent, FinetuneOptions, FinetuneResult } from './types.js'

const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 }

/** The options with every default filled in (what a run and its checkpoint record). */
export function resolved(opts: FinetuneOptions) {
  const method = opts.method ?? 'lora'
  const rank = opts.rank ?? 16
  return {
    method,
    rank,
    alpha: opts.alpha ?? 2 * rank,
    dropout: opts.dropout ?? 0,
    /** Absent: the family's default (defaultLoraTarget), known once the model is open. */
    target: opts.target,
    epochs: opts.epochs ?? 1,
    maxSteps: opts.maxSteps,
    batchSize: opts.batchSize ?? 4,
    gradAccum: opts.gradAccum ?? 1,
    lr: opts.lr ?? (method === 'lora' ? 2e-4 : 2e-5),
    schedule: opts.schedule ?? 'cosine',
    warmup: opts.warmup ?? 0,
    weightDecay: opts.weightDecay ?? 0,
    maxGradNorm: opts.maxGradNorm ?? 1,
    seqLen: opts.seqLen ?? 512,
    packing: opts.packing ?? false,
    gradientCheckpointing: opts.gradientCheckpointing ?? false,
    lossChunk: opts.lossChunk,
    evalEvery: opts.evalEvery,
    saveEvery: opts.saveEvery,
    seed: opts.seed ?? 42,
    threads: opts.threads ?? 1,
  }
}

/** Refuses options out of range, naming them. */
export function check(o: ReturnType<typeof resolved>): void {
  const int = (v: number | undefined, name: string, min = 1) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min))
      throw new UsageError(`${option(name)} must be an integer ≥ ${min} (got ${v})`)
  }
  for (const k of [
    'rank',
    'epochs',
    'maxSteps',
    'batchSize',
    'gradAccum',
    'evalEvery',
    'saveEvery',
    'threads',
  ] as const)
    int(o[k], k)
  int(o.seed, 'seed', 0)
  // A sequence of one token predicts nothing (the loss shifts the labels).
  int(o.seqLen, 'seqLen', 2)
  int(o.lossChunk, 'lossChunk', 0)
  if (!(o.lr > 0)) throw new UsageError(`${option('lr')} must be > 0 (got ${o.lr})`)
  if (!(o.alpha > 0)) throw new UsageError(`${option('alpha')} must be > 0 (got ${o.alpha})`)
  if (!(o.dropout >= 0 && o.dropout < 1))
    throw new UsageError(`${option('dropout')} must be in [0, 1) (got ${o.dropout})`)
  if (!(o.weightDecay >= 0)) throw new UsageError(`${option('weightDecay')} must be ≥ 0`)
  if (!(o.maxGradNorm > 0)) throw new UsageError(`${option('maxGradNorm')} must be > 0`)
  if (!(o.warmup >= 0)) throw new UsageError(`${option('warmup')} must be ≥ 0`)
}

// The micro-batches of one optimizer step: gradAccum of them, fewer at the end of an epoch.
function* stepsOf(plan: BatchPlan<SourcedExample>, from: DataPosition, gradAccum: number) {
  const batches = plan.batches(from)
  for (;;) {
    const step: MicroBatch<SourcedExample>[] = []
    while (step.length < gradAccum) {
      const mb = batches.next().value as MicroBatch<SourcedExample>
      step.push(mb)
      if (mb.next.epoch !== mb.start.epoch) break // an epoch's last step takes what remains
    }
    yield step
  }
}

// A 32-bit seed per micro-batch from the run's seed (splitmix32), for the dropout masks.
function microSeed(seed: number, micro: number): number {
  let z = (seed * 0x9e3779b9 + micro * 0x85ebca6b + 0x6a09e667) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/** DATA (and --eval, else the eval split of DATA) as examples, through the Hub when they are ids. */
export async function loadRunData(opts: FinetuneOptions, tokenizer: Tokenizer, seqLen: number) {
  const hub = { hub: opts.hub, onDownload: opts.onDownload }
  const data = await loadTrainData(opts.data, tokenizer, { seqLen, evalSplit: opts.evalSplit, ...hub })
  const evalExamples = opts.eval
    ? (await loadTrainData(opts.eval, tokenizer, { seqLen, ...hub })).examples
    : data.eval
  return { data, evalExamples }
}

/** What the start event says of the data (both launchers). */
export function dataSummary(data: TrainData, seqLen: number) {
  const { records, windowed, truncated, skipped } = data
  return { records, windowed, truncated, seqLen, skipped }
}

/**
 * OUT as a run may write it (a folder, empty unless --resume; replaced with --force), after the
 * checks of the options that concern it; its absolute path. Shared by both launchers.
 */
export function prepareOut(opts: FinetuneOptions): string {
  const out = nodePath.resolve(opts.out)
  if (opts.merge && (opts.method ?? 'lora') !== 'lora')
    throw new UsageError(
      `${option('merge')} folds a LoRA adapter into its base; a full run's OUT is the model already`,
    )
  if (opts.resume && opts.force)
    throw new UsageError(`${option('resume')} and ${option('force')} exclude each other`)
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new UsageError(`${opts.out} exists and is not a folder`)
  if (!opts.resume && existsSync(out) && readdirSync(out).length > 0) {
    if (!opts.force)
      throw new UsageError(
        `${opts.out} exists (pass ${option('force')} to replace it, or ${option('resume')})`,
      )
    rmSync(out, { recursive: true, force: true })
  }
  return out
}

/** Trains `opts.model` on `opts.data`; see FinetuneOptions. Stops after the current step when `signal` aborts. */
export async function finetune(
  opts: FinetuneOptions,
  onEvent: (e: FinetuneEvent) => void = () => {},
  signal?: AbortSignal,
): Promise<FinetuneResult> {
  const o = resolved(opts)
  check(o)
  const out = prepareOut(opts)
  const source = openModelSource(opts.model)
  checkTrainable(source, o.method)
  const target = o.target ?? defaultLoraTarget(source.config.architecture)
  if (opts.merge && source.format !== 'safetensors')
    throw new UsageError(
      `${option('merge')} writes the base with the adapter folded in as a Hugging Face folder; ${opts.model} is a GGUF file (apply the adapter at load instead)`,
    )
  const { data, evalExamples } = await loadRunData(opts, source.tokenizer, o.seqLen)
  const plan = new BatchPlan(data.examples, {
    batchSize: o.batchSize,
    seqLen: o.seqLen,
    packing: o.packing,
    seed: o.seed,
  })
  const totalSteps = o.maxSteps ?? plan.totalSteps(o.epochs, o.gradAccum)
  const warmup = warmupSteps(o.warmup, totalSteps)

  const session = new TrainSession(source, {
    method: o.method,
    lora: { rank: o.rank, alpha: o.alpha, target, dropout: o.dropout },
    maxRows: o.batchSize * o.seqLen,
    threads: o.threads,
    gradientCheckpointing: o.gradientCheckpointing,
    lossChunk:
      o.lossChunk ?? autoLossChunk(o.batchSize * o.seqLen, source.config.vocabSize, o.gradientCheckpointing),
  })
  try {
    mkdirSync(out, { recursive: true })
    const fingerprint = {
      method: o.method,
      ...(o.method === 'lora' ? { rank: o.rank, alpha: o.alpha, dropout: o.dropout, target } : {}),
      batchSize: o.batchSize,
      gradAccum: o.gradAccum,
      seqLen: o.seqLen,
      packing: o.packing,
      seed: o.seed,
      // A Hub dataset is recorded as its repo, commit and split, so a resume reads the same data.
      data: data.hub ? data.hub.id : nodePath.resolve(opts.data),
    }
    let state: RunState = {
      step: 0,
      microSteps: 0,
      data: { epoch: 0, index: 0 },
      tokens: 0,
      elapsedMs: 0,
      fingerprint,
    }
    if (opts.resume) state = loadCheckpoint(out, session, fingerprint)
    else if (o.method === 'lora')
      for (const [p, init] of initLora(session.params, o.seed)) session.writeParameter(p, init)
    const metricsFile = nodePath.join(out, 'metrics.jsonl')
    const metrics = openMetricsFile(metricsFile, opts.resume ? { keepThroughStep: state.step } : {})
    onEvent({
      type: 'start',
      method: o.method,
      totalSteps,
      trainableParameters: session.trainableParameters,
      examples: data.examples.length,
      startStep: state.step,
      data: dataSummary(data, o.seqLen),
    })
    const emit = (e: FinetuneEvent) => {
      metrics.write(e)
      onEvent(e)
    }
    const evaluate = async (): Promise<number | undefined> => {
      if (!evalExamples?.length) return undefined
      let sum = 0
      let count = 0
      session.setDropoutSeed('off') // evaluation runs the model as inference does
      const evalPlan = new BatchPlan(evalExamples, {
        batchSize: o.batchSize,
        seqLen: o.seqLen,
        shuffle: false,
      })
      for (const mb of evalPlan.batches()) {
        const r = await session.step(mb.examples, { forwardOnly: true })
        sum += r.lossSum
        count += r.tokens
        if (mb.next.epoch !== mb.start.epoch) break
      }
      return count > 0 ? sum / count : undefined
    }
    let lastLoss = state.loss ?? Number.NaN
    let evalLoss: number | undefined
    // Elapsed time counts the earlier sessions of a resumed run; the speed only this one.
    const sessionStart = performance.now()
    const runStart = sessionStart - state.elapsedMs
    const tokensAtStart = state.tokens
    let tokensSeen = state.tokens
    const steps = stepsOf(plan, state.data, o.gradAccum)
    while (state.step < totalSteps && !signal?.aborted) {
      const micro = steps.next().value as MicroBatch<SourcedExample>[]
      let lossSum = 0
      let counted = 0
      for (const mb of micro) {
        session.setDropoutSeed(microSeed(o.seed, state.microSteps++))
        const r = await session.step(mb.examples)
        lossSum += r.lossSum
        counted += r.tokens
        tokensSeen += mb.tokens
        state.data = mb.next
      }
      const lr = learningRate(o.lr, o.schedule, state.step, totalSteps, warmup)
      const { gradNorm } = session.update(
        { lr, ...ADAM, weightDecay: o.weightDecay, maxGradNorm: o.maxGradNorm },
        counted,
      )
      state.step++
      lastLoss = counted > 0 ? lossSum / counted : Number.NaN
      const elapsedMs = performance.now() - runStart
      const rate = (tokensSeen - tokensAtStart) / Math.max(1e-9, (performance.now() - sessionStart) / 1000)
      emit({
        type: 'step',
        step: state.step,
        totalSteps,
        loss: lastLoss,
        lr,
        gradNorm,
        tokens: tokensSeen,
        tokensPerSecond: rate,
        elapsedMs,
        etaMs: (elapsedMs / state.step) * (totalSteps - state.step),
      })
      if (o.evalEvery && state.step % o.evalEvery === 0 && state.step < totalSteps) {
        evalLoss = await evaluate()
        if (evalLoss !== undefined) emit({ type: 'eval', step: state.step, loss: evalLoss })
      }
      if (o.saveEvery && state.step % o.saveEvery === 0 && state.step < totalSteps) {
        const dir = saveCheckpoint(out, session, { ...state, tokens: tokensSeen, elapsedMs, loss: lastLoss })
        onEvent({ type: 'save', step: state.step, dir })
      }
    }
    const finished = state.step >= totalSteps
    if (finished && state.finalEvalLoss !== undefined) {
      // Resumed after its last checkpoint: the closing evaluation is already in metrics.jsonl.
      evalLoss = state.finalEvalLoss ?? undefined
    } else {
      evalLoss = (await evaluate()) ?? evalLoss
      if (evalLoss !== undefined) emit({ type: 'eval', step: state.step, loss: evalLoss })
    }
    const elapsedMs = performance.now() - runStart
    // A stopped run can be resumed: its checkpoint is where it stopped.
    const dir = saveCheckpoint(out, session, {
      ...state,
      tokens: tokensSeen,
      elapsedMs,
      loss: lastLoss,
      ...(finished ? { finalEvalLoss: evalLoss ?? null } : {}),
    })
    onEvent({ type: 'save', step: state.step, dir })
    metrics.close()
    if (o.method === 'lora') {
      writeAdapterOut(out, session, { rank: o.rank, alpha: o.alpha, target, dropout: o.dropout })
      if (opts.merge) writeMergedModel(nodePath.join(out, 'merged'), source, readLoraAdapter(out), true)
    } else writeModelOut(out, session)
    const lossCurveFile = nodePath.join(out, 'loss_curve.svg')
    writeLossCurve(lossCurveFile, readMetrics(metricsFile), { title: `kiln finetune (${o.method})` })
    return {
      out,
      method: o.method,
      steps: state.step,
      finalLoss: lastLoss,
      evalLoss,
      trainableParameters: session.trainableParameters,
      tokensPerSecond:
        (tokensSeen - tokensAtStart) / Math.max(1e-9, (performance.now() - sessionStart) / 1000),
      elapsedMs,
      metricsFile,
      lossCurveFile,
    }
  } finally {
    session.dispose()
  }
}
