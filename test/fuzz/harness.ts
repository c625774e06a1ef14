// The fuzz harness every target in test/fuzz shares: one property (the code under test returns, or
// throws kiln's own typed error with a one-line message, within a stated time and memory bound),
// the regression corpus replayed before the random cases, a budget read from the environment, a
// watchdog that reports a case that hangs or balloons the process, and a report for scripts/fuzz.mjs.
//
// This file is the driver (fuzzTarget: the corpus tests and the random cases, with batching, replay
// and survey mode) and the one module the targets import from: the other parts are in their own
// files and re-exported here.
//   harness-settings.ts  the environment (KILN_FUZZ_*, documented there), seed, budget, memory bounds
//   harness-property.ts  the property (kiln(), kilnAsync(), FuzzFailure) and the shared known bugs
//   harness-corpus.ts    corpus codecs and files, counterexamples saved for a failure
//   harness-watchdog.ts  the worker thread that stops a hung or memory-runaway run
import { appendFileSync, readFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { type CorpusCodec, corpusFiles, saveCounterexample, saveSurveyCase } from './harness-corpus.js'
import { FuzzFailure, type KnownBug } from './harness-property.js'
import {
  budgetMs,
  CASE_RSS_BOUND,
  MAX_RUNS,
  REPLAY_CASE,
  REPLAY_PATH,
  SEED,
  SLOW_MS,
  SURVEY,
} from './harness-settings.js'
import { type Watchdog, watchdog } from './harness-watchdog.js'

export {
  bytesCodec,
  type CorpusCodec,
  corpusFiles,
  jsonCodec,
  saveCounterexample,
} from './harness-corpus.js'
export {
  caseText,
  checkError,
  FuzzFailure,
  type KnownBug,
  kiln,
  kilnAsync,
  MULTILINE_MESSAGE,
  type Outcome,
  STACK_OVERFLOW,
} from './harness-property.js'
export { budgetMs, CASE_RSS_BOUND, CORPUS_DIR, FUZZ_DIR, OUT_DIR, SEED } from './harness-settings.js'
export { type Watchdog, watchdog } from './harness-watchdog.js'

/** Thrown after the case KILN_FUZZ_CASE names, to end a replay there. */
class ReplayDone extends Error {}

export interface FuzzSpec<T> {
  /** The target's name: test/fuzz/<name>.fuzz.test.ts, test/fuzz/corpus/<name>/. */
  target: string
  arbitrary: fc.Arbitrary<T>
  /**
   * One case: calls the code under test through kiln()/kilnAsync(), throws FuzzFailure for anything
   * else. It may return how far the case got ("refused", "loaded"): the report counts them, to show
   * that the mutations reach past the first check (a batch: one for each of its cases).
   */
  run(input: T): Stage | Promise<Stage>
  /** The stated bound on one case's time. */
  caseMs: number
  /** The random cases' time in CI (`npm test`), when KILN_FUZZ_TIME_MS is not set. */
  ciMs: number
  corpus: CorpusCodec<T>
  /**
   * For a target whose input is a batch of cases run at once (hub-api: cases that mostly wait), how
   * many cases the input holds: the report counts these, not fast-check's runs. Default: 1.
   */
  casesIn?(input: T): number
  /** A short text of a case for the watchdog to print if it hangs (cheap: it is made for every case). */
  describeCase?(input: T): string
  known?: KnownBug[]
  /** Time to set up (load seeds, start a server) and to replay the corpus, for the test's timeout. */
  setupMs?: number
}

/** How far a case got, or each case of a batch (FuzzSpec.run). */
export type Stage = undefined | string | string[]

/** Totals for the report, per target. */
interface Tally {
  cases: number
  known: Record<string, number>
  stages: Record<string, number>
}

/** One report line for scripts/fuzz.mjs (and a console line for CI logs). */
export function report(entry: {
  target: string
  phase: string
  cases: number
  ms: number
  failures: string[]
  known?: Record<string, number>
  stages?: Record<string, number>
}): void {
  const line = { ...entry, seed: SEED }
  const stages = Object.entries(entry.stages ?? {})
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')
  const known = Object.entries(entry.known ?? {})
    .map(([k, n]) => `${k} ×${n}`)
    .join(', ')
  console.log(
    `[fuzz] ${entry.target} ${entry.phase}: ${entry.cases} cases in ${(entry.ms / 1000).toFixed(1)} s, ` +
      `${entry.failures.length} failures${known ? `, known bugs hit: ${known}` : ''}` +
      `${stages ? `; cases by how far they got: ${stages}` : ''} (seed ${SEED})`,
  )
  const file = process.env.KILN_FUZZ_REPORT
  if (file) appendFileSync(file, `${JSON.stringify(line)}\n`)
}

/**
 * Runs one case under the bounds: time (caseMs) and resident memory added. The watchdog sees the
 * case while it runs (a hang or a runaway allocation that never returns is reported by it).
 */
async function boundedCase<T>(spec: FuzzSpec<T>, dog: Watchdog, index: number, input: T): Promise<Stage> {
  if (SLOW_MS !== undefined && SLOW_MS < 0) writeSync(2, `[fuzz] case ${index} starts\n`)
  dog.enter(index, spec.describeCase?.(input))
  const rss0 = process.memoryUsage.rss()
  const t0 = performance.now()
  let stage: Stage
  try {
    stage = await spec.run(input)
  } finally {
    dog.leave()
    const ms = performance.now() - t0
    if (SLOW_MS !== undefined && ms > SLOW_MS)
      writeSync(
        2,
        `[fuzz] slow case ${index} (${ms.toFixed(0)} ms): ${(spec.describeCase?.(input) ?? '').slice(0, 300)}\n`,
      )
  }
  const ms = performance.now() - t0
  const grew = process.memoryUsage.rss() - rss0
  if (ms > spec.caseMs) throw new FuzzFailure(`took ${ms.toFixed(0)} ms (bound ${spec.caseMs} ms)`, 'hang')
  if (grew > CASE_RSS_BOUND)
    throw new FuzzFailure(
      `resident memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB (bound ${CASE_RSS_BOUND / 2 ** 20} MiB)`,
      'memory',
    )
  return stage
}

/** The known bug a failure is, with the first source line of kiln's in its stack: "name @ file.ts:42". */
function knownBug<T>(spec: FuzzSpec<T>, e: unknown, input: T): string | undefined {
  if (!(e instanceof FuzzFailure)) return undefined
  const name = SURVEY
    ? `${e.kind} ${/^threw (\w+)/.exec(e.message)?.[1] ?? ''}`
    : spec.known?.find((k) => k.matches(e, input))?.name
  if (name === undefined) return undefined
  const site = /\/src\/([\w/.-]+\.ts:\d+)/.exec(e.message)?.[1]
  return site ? `${name} @ ${site}` : name
}

/**
 * The cases of a batch target's runs: those of the first numRuns batches (the runs before any
 * shrinking), and those of the batch the time limit cut off when it held to the property (the
 * harness waited for it: it began one batch past numRuns).
 */
function batchCases<T>(casesIn: number[], details: fc.RunDetails<[T]>, cutOff: unknown): number {
  const counted = casesIn.slice(0, details.numRuns).reduce((n, k) => n + k, 0)
  const rest = !details.failed && cutOff === undefined ? (casesIn[details.numRuns] ?? 0) : 0
  return counted + rest
}

/**
 * Declares a target's tests: one per corpus file (replayed every run, before the random cases; a
 * file listed in known-bugs.json is expected to fail until its bug is fixed), then the random cases.
 */
export function fuzzTarget<T>(spec: FuzzSpec<T>): void {
  const timeMs = budgetMs(spec.ciMs)
  const files = corpusFiles(spec.target, spec.corpus.ext)
  describe(`fuzz: ${spec.target}`, () => {
    if (files.length)
      describe('regression corpus', () => {
        for (const { file, known, crashes } of files) {
          const name = path.basename(file)
          // A known bug's reproducer fails until the bug is fixed (then drop it from known-bugs.json);
          // one that crashes the process is skipped, as a replay would end the test run.
          const test = crashes ? it.skip : known ? it.fails : it
          test(known ? `${name} (known bug: ${known})` : name, {
            timeout: spec.caseMs * 4 + 30_000,
          }, async () => {
            const dog = watchdog(spec.target, spec.caseMs)
            try {
              await boundedCase(spec, dog, -1, spec.corpus.decode(readFileSync(file)))
            } finally {
              dog.stop()
            }
          })
        }
      })

    it(`random cases (seed ${SEED})`, { timeout: timeMs * 3 + spec.caseMs * 20 + 60_000 }, async () => {
      const tally: Tally = { cases: 0, known: {}, stages: {} }
      const dog = watchdog(spec.target, spec.caseMs)
      let index = 0
      // Cases in each input, in the order run (batch targets only): the report counts those of the
      // first numRuns inputs, the runs before any shrinking.
      const casesIn: number[] = []
      let yielded = performance.now()
      const runOne = async (input: T) => {
        // Awaiting settled promises runs on microtasks only: let the event loop turn now and then,
        // or vitest's own messages between this worker and the runner time out.
        if (performance.now() - yielded > 200) {
          await new Promise((resolve) => setImmediate(resolve))
          yielded = performance.now()
        }
        // Cases are numbered as generated (a hang or crash report names the number).
        const i = index++
        // Replaying case N runs the cases before it too (the values fast-check draws after a case
        // are not always the same when that case did not run), and saves case N before running it,
        // as it may take the process down.
        if (REPLAY_CASE !== undefined && i > REPLAY_CASE) throw new ReplayDone()
        if (i === REPLAY_CASE || (REPLAY_PATH && tally.cases === 0))
          writeSync(1, `[fuzz] replayed case saved to ${saveCounterexample(spec, input)}\n`)
        tally.cases++
        if (spec.casesIn) casesIn.push(spec.casesIn(input))
        const crasher = spec.known?.find((k) => k.skip?.(input))
        if (crasher) {
          const key = `${crasher.name} (not run: it would crash the process)`
          tally.known[key] = (tally.known[key] ?? 0) + 1
          return
        }
        try {
          const stage = await boundedCase(spec, dog, i, input)
          for (const s of typeof stage === 'string' ? [stage] : (stage ?? []))
            tally.stages[s] = (tally.stages[s] ?? 0) + 1
        } catch (e) {
          const bug = knownBug(spec, e, input)
          if (bug === undefined) throw e
          tally.known[bug] = (tally.known[bug] ?? 0) + 1
          if (SURVEY && tally.known[bug] === 1) saveSurveyCase(spec, bug, input, e as FuzzFailure)
        }
      }
      // The run in progress, for batch targets: when the time is up fast-check stops waiting for it
      // and leaves it running, and a batch is many cases that use the target's servers for a while.
      let last: { input: T; done: Promise<void> } | undefined
      const property = fc.asyncProperty(spec.arbitrary, (input) => {
        const done = runOne(input)
        if (spec.casesIn) last = { input, done }
        return done
      })
      const t0 = performance.now()
      let details: fc.RunDetails<[T]>
      let cutOff: unknown
      try {
        details = await fc.check(property, {
          seed: SEED,
          path: REPLAY_PATH,
          // The same parameters as the run being replayed (fast-check's values depend on numRuns).
          numRuns: MAX_RUNS ?? 2 ** 31 - 1,
          interruptAfterTimeLimit: timeMs,
          markInterruptAsFailure: false,
          // A failing case is shrunk for at most the run's own time (not when replaying one case).
          endOnFailure: REPLAY_CASE !== undefined,
        })
        // The batch cut off (still under the watchdog) ends before the next test, and a failure in
        // it that fast-check did not see is reported (its cases are not counted).
        const error = await last?.done.then(
          () => undefined,
          (e: unknown) => e ?? new Error('rejected'),
        )
        if (!details.failed && error !== undefined && !(error instanceof ReplayDone)) cutOff = error
      } finally {
        dog.stop()
      }
      const ms = performance.now() - t0
      const failures: string[] = []
      if (details.failed && !(details.errorInstance instanceof ReplayDone)) {
        const saved = details.counterexample ? saveCounterexample(spec, details.counterexample[0]) : 'none'
        // Not fc.defaultReportMessage: it prints the counterexample recursively, and a deeply nested
        // one overflows the stack. The counterexample is in the saved file instead.
        const err = details.errorInstance
        failures.push(
          `${spec.target}: property failed after ${details.numRuns} ${spec.casesIn ? 'batches' : 'cases'} and ${details.numShrinks} shrinks ` +
            `(seed ${details.seed}, path "${details.counterexamplePath}"): ` +
            `${err instanceof Error ? err.message : String(err)}\n` +
            `Counterexample saved to ${saved}: copy it into test/fuzz/corpus/${spec.target}/ to replay it ` +
            `in every run. Reproduce with KILN_FUZZ_SEED=${details.seed} KILN_FUZZ_PATH=${details.counterexamplePath}.`,
        )
      }
      if (cutOff !== undefined && last) {
        failures.push(
          `${spec.target}: the batch that the time limit cut off failed (seed ${SEED}): ` +
            `${cutOff instanceof Error ? cutOff.message : String(cutOff)}\n` +
            `Batch saved to ${saveCounterexample(spec, last.input)}: copy it into test/fuzz/corpus/${spec.target}/ ` +
            'to replay it in every run.',
        )
      }
      report({
        target: spec.target,
        phase: 'random',
        cases: spec.casesIn ? batchCases(casesIn, details, cutOff) : details.numRuns,
        ms,
        failures: failures.map((f) => f.split('\n')[0]),
        known: tally.known,
        stages: tally.stages,
      })
      if (failures.length) throw new Error(failures[0])
    })
  })
}
