// The fuzz harness every target in test/fuzz shares: one property (the code under test returns, or
// throws kiln's own typed error with a one-line message, within a stated time and memory bound),
// the regression corpus replayed before the random cases, a budget read from the environment, a
// watchdog that reports a case that hangs or balloons the process, and a report for scripts/fuzz.mjs.
//
// Environment (set by `npm run fuzz`, or by hand):
//   KILN_FUZZ_TIME_MS  time for each target's random cases (default: the target's CI budget)
//   KILN_FUZZ_RUNS     at most this many random cases per target (default: as many as the time allows)
//   KILN_FUZZ_SEED     the seed, or `fresh` for a new one (default: CI_SEED in the test suite, fresh
//                      under `npm run fuzz`; printed with every report and failure)
//   KILN_FUZZ_CASE     with KILN_FUZZ_SEED: run that seed's cases up to number N (as a hang or a crash
//                      report names it); case N is saved to KILN_FUZZ_OUT before it runs
//   KILN_FUZZ_PATH     with KILN_FUZZ_SEED: replay fast-check's path of a failure (as its report gives it)
//   KILN_FUZZ_OUT      folder for the counterexamples of failures (default: $TMPDIR/kiln-fuzz)
//   KILN_FUZZ_REPORT   file that gets one JSON line per target and phase (cases run, failures)
//   KILN_FUZZ_SLOW_MS  print each case slower than this
//   KILN_FUZZ_SURVEY   1: count every failure by kind and place instead of stopping at the first
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import { describe, it } from 'vitest'
import { KilnError } from '../../src/core/errors.js'
import { type Json, stringifyDeep, treeSize } from './mutate.js'

export const FUZZ_DIR = path.dirname(fileURLToPath(import.meta.url))
export const CORPUS_DIR = path.join(FUZZ_DIR, 'corpus')

function envNumber(name: string): number | undefined {
  const v = process.env[name]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`)
  return n
}

/**
 * The test suite's seed. `npm test` explores the same cases every run, so its outcome depends on the
 * change under test alone, never on the draw: finding new bugs is `npm run fuzz`'s job (a fresh
 * seed each run), and each one found joins the corpus that every run replays.
 */
const CI_SEED = 20261206

/** The seed of this run (printed with every report). */
export const SEED =
  process.env.KILN_FUZZ_SEED === 'fresh'
    ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
    : (envNumber('KILN_FUZZ_SEED') ?? CI_SEED)
const REPLAY_PATH = process.env.KILN_FUZZ_PATH || undefined
const REPLAY_CASE = envNumber('KILN_FUZZ_CASE')
const MAX_RUNS = envNumber('KILN_FUZZ_RUNS')
/** KILN_FUZZ_SLOW_MS: print every case slower than this (to see where a target's time goes). */
const SLOW_MS = envNumber('KILN_FUZZ_SLOW_MS')
/** KILN_FUZZ_SURVEY=1: no failure stops the run; each kind is counted by where it happens (to survey a target). */
const SURVEY = process.env.KILN_FUZZ_SURVEY === '1'
export const OUT_DIR = process.env.KILN_FUZZ_OUT || path.join(os.tmpdir(), 'kiln-fuzz')

/** The time a target's random cases get: KILN_FUZZ_TIME_MS, else its CI budget. */
export function budgetMs(ciMs: number): number {
  return envNumber('KILN_FUZZ_TIME_MS') ?? ciMs
}

/** Resident memory a single case may add (measured before and after it): a header that declares
 * 2^60 elements must be refused before anything that size is allocated. */
export const CASE_RSS_BOUND = 256 * 1024 * 1024
/** Resident memory of the whole test process past which the watchdog stops it, naming the case. */
const PROCESS_RSS_BOUND = 3 * 1024 * 1024 * 1024

/** Thrown after the case KILN_FUZZ_CASE names, to end a replay there. */
class ReplayDone extends Error {}

/** A broken property: what the case did instead of returning or throwing a one-line KilnError. */
export class FuzzFailure extends Error {
  constructor(
    message: string,
    readonly kind: 'exception' | 'multiline' | 'hang' | 'memory' | 'crash' | 'answer',
  ) {
    super(message)
  }
}

/** What a case's call came to, for properties that look further (a compiled schema, a loaded tokenizer). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: KilnError }

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `a non-Error value ${safeString(e)}`
  const stack = (e.stack ?? '').split('\n').slice(1, 13).join('\n')
  return `${e.constructor?.name ?? 'Error'}: ${e.message.slice(0, 500)}\n${stack}`
}

function safeString(v: unknown): string {
  try {
    return String(JSON.stringify(v)).slice(0, 200)
  } catch {
    return String(v).slice(0, 200)
  }
}

/** A short JSON text of a case for the watchdog (any depth). */
export function caseText(v: unknown, max = 20_000): string {
  try {
    return stringifyDeep(v as Json, max).slice(0, max)
  } catch {
    return safeString(v)
  }
}

/** Checks a thrown value against the property: a KilnError with a code and a one-line message. */
export function checkError(e: unknown): KilnError {
  if (e instanceof FuzzFailure) throw e
  if (!(e instanceof KilnError)) throw new FuzzFailure(`threw ${describeError(e)}`, 'exception')
  if (typeof e.code !== 'string' || !e.code.startsWith('E_'))
    throw new FuzzFailure(`threw a KilnError without a code: ${describeError(e)}`, 'exception')
  if (/[\r\n]/.test(e.message))
    throw new FuzzFailure(
      `${e.constructor.name} (${e.code}) message is not one line: ${JSON.stringify(e.message.slice(0, 400))}\n` +
        (e.stack ?? '')
          .split('\n')
          .filter((l) => l.trimStart().startsWith('at '))
          .slice(0, 4)
          .join('\n'),
      'multiline',
    )
  return e
}

/** Runs `fn` under the property: it returns, or throws a KilnError (returned as the outcome). */
export function kiln<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() }
  } catch (e) {
    return { ok: false, error: checkError(e) }
  }
}

export async function kilnAsync<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (e) {
    return { ok: false, error: checkError(e) }
  }
}

/** A bug the fuzzer finds that is known and reported (its reproducer is in the corpus, marked). */
export interface KnownBug {
  /** Short name, as in corpus/<target>/known-bugs.json. */
  name: string
  /** True when a failure (of this input) is this bug. */
  matches(failure: FuzzFailure, input: unknown): boolean
  /**
   * True for inputs that would take the whole process down with this bug (a V8 out-of-memory
   * error cannot be caught): they are counted, not run, until the bug is fixed.
   */
  skip?(input: unknown): boolean
}

export interface CorpusCodec<T> {
  /** File extension of the target's corpus files (".json", ".gguf"). */
  ext: string
  decode(bytes: Buffer): T
  encode(input: T): Buffer
}

/** Inputs that are JSON documents (lone surrogates survive: JSON.stringify escapes them). */
export function jsonCodec<T>(): CorpusCodec<T> {
  return {
    ext: '.json',
    decode: (b) => JSON.parse(b.toString('utf8')) as T,
    encode: (v) => {
      try {
        return Buffer.from(`${JSON.stringify(v, null, 1)}\n`)
      } catch {
        return Buffer.from(`${stringifyDeep(v as Json)}\n`) // too deep for JSON.stringify
      }
    },
  }
}

export const bytesCodec = (ext: string): CorpusCodec<Uint8Array> => ({
  ext,
  decode: (b) => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
  encode: (v) => Buffer.from(v),
})

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
 * The corpus files of a target, with the open bug of those that reproduce one: known-bugs.json maps a
 * file to the bug's description, or to {"bug": …, "crashes": true} for a file that takes the whole
 * process down (skipped until the bug is fixed: a replay would kill the test run).
 */
export function corpusFiles(
  target: string,
  ext: string,
): { file: string; known?: string; crashes?: boolean }[] {
  const dir = path.join(CORPUS_DIR, target)
  if (!existsSync(dir)) return []
  const knownFile = path.join(dir, 'known-bugs.json')
  const known: Record<string, string | { bug: string; crashes?: boolean }> = existsSync(knownFile)
    ? JSON.parse(readFileSync(knownFile, 'utf8'))
    : {}
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext) && f !== 'known-bugs.json')
    .sort()
    .map((f) => {
      const k = known[f]
      if (k === undefined) return { file: path.join(dir, f) }
      return typeof k === 'string'
        ? { file: path.join(dir, f), known: k }
        : { file: path.join(dir, f), known: k.bug, crashes: k.crashes }
    })
}

/** Writes a failing input where a developer can pick it up, and says where. */
export function saveCounterexample<T>(spec: { target: string; corpus: CorpusCodec<T> }, input: T): string {
  mkdirSync(OUT_DIR, { recursive: true })
  // Mutated documents share subtrees: one that stands for more nodes than a file could hold is
  // described, not written out.
  if (!(input instanceof Uint8Array)) {
    const nodes = treeSize(input as Json, 20_000_000)
    if (nodes >= 20_000_000) return `(not saved: the input spells out to more than ${nodes} JSON nodes)`
  }
  const file = path.join(OUT_DIR, `${spec.target}-${SEED}-${Date.now()}${spec.corpus.ext}`)
  try {
    writeFileSync(file, spec.corpus.encode(input))
    return file
  } catch (e) {
    return `(could not save: ${(e as Error).message})`
  }
}

/** Survey mode: the first input of each kind of failure, with its message, in OUT_DIR/<target>-survey/. */
function saveSurveyCase<T>(spec: FuzzSpec<T>, key: string, input: T, e: FuzzFailure): void {
  const dir = path.join(OUT_DIR, `${spec.target}-survey`)
  mkdirSync(dir, { recursive: true })
  const base = path.join(dir, key.replace(/[^\w.-]+/g, '_'))
  try {
    writeFileSync(`${base}${spec.corpus.ext}`, spec.corpus.encode(input))
  } catch {}
  writeFileSync(`${base}.txt`, `${e.message}\n`)
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

/** A message that echoes a hostile string (a name, a value) with its line breaks. */
export const MULTILINE_MESSAGE: KnownBug = {
  name: 'multiline-message',
  matches: (f) => f.kind === 'multiline',
}

/** Deep nesting (thousands of levels, which JSON.parse reads) overflowing a recursion in kiln. */
export const STACK_OVERFLOW: KnownBug = {
  name: 'deep-nesting-stack-overflow',
  // An error message made with JSON.stringify (or a template string) of a nested hostile value.
  matches: (f) =>
    f.kind === 'exception' &&
    f.message.includes('Maximum call stack size exceeded') &&
    /at (JSON\.stringify|Array\.join|Array\.toString)/.test(f.message),
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

// --- watchdog ---------------------------------------------------------------------------------

/** A thread beside the test that stops the process when a case runs past its bound many times
 * over or the process grows past PROCESS_RSS_BOUND, printing the case: synchronous code that never
 * returns cannot be interrupted from inside. */
export interface Watchdog {
  enter(index: number, text?: string): void
  leave(): void
  stop(): void
}

const WATCHDOG_CODE = `
const { workerData } = require('node:worker_threads')
const fs = require('node:fs')
const path = require('node:path')
const { shared, target, seed, hangMs, rssBound, outDir } = workerData
const f64 = new Float64Array(shared, 0, 4)
const text = new Uint8Array(shared, 32)
const timer = setInterval(() => {
  const active = f64[2] === 1
  const elapsed = Date.now() - f64[0]
  const rss = process.memoryUsage.rss()
  let why
  if (active && elapsed > hangMs) why = 'ran ' + elapsed + ' ms (the watchdog stops a case at ' + hangMs + ' ms)'
  else if (rss > rssBound) why = 'the process holds ' + Math.round(rss / 2 ** 20) + ' MiB (bound ' + Math.round(rssBound / 2 ** 20) + ' MiB)'
  if (!why) return
  const index = f64[1]
  const len = f64[3]
  const input = Buffer.from(text.subarray(0, len)).toString('utf8')
  const where = index < 0 ? 'a corpus file' : 'case ' + index + ' (reproduce: KILN_FUZZ_SEED=' + seed + ' KILN_FUZZ_CASE=' + index + ')'
  const msg = '[fuzz] ' + target + ': ' + where + ' ' + why + '; stopping the process.' + (input ? '\\n[fuzz] the case: ' + input : '') + '\\n'
  try { fs.mkdirSync(outDir, { recursive: true }); fs.writeFileSync(path.join(outDir, target + '-' + seed + '-watchdog.txt'), msg) } catch {}
  fs.writeSync(2, msg)
  clearInterval(timer)
  process.kill(process.pid, 'SIGKILL')
}, 100)
`

const TEXT_BYTES = 64 * 1024

export function watchdog(target: string, caseMs: number): Watchdog {
  // The case in progress, on disk: a fatal V8 error (out of memory) takes the watchdog down with
  // the process, and this file is what is left to say which case it was.
  mkdirSync(OUT_DIR, { recursive: true })
  const currentFile = path.join(OUT_DIR, `${target}-${process.pid}.current`)
  const fd = openSync(currentFile, 'w')
  const shared = new SharedArrayBuffer(32 + TEXT_BYTES)
  const f64 = new Float64Array(shared, 0, 4)
  const text = new Uint8Array(shared, 32)
  const encoder = new TextEncoder()
  const worker = new Worker(WATCHDOG_CODE, {
    eval: true,
    workerData: {
      shared,
      target,
      seed: SEED,
      // Well past the property's own bound (which fails and shrinks a slow case that does return).
      hangMs: Math.max(caseMs * 5, 30_000),
      rssBound: PROCESS_RSS_BOUND,
      outDir: OUT_DIR,
    },
  })
  worker.unref()
  return {
    enter(index, s) {
      writeSync(fd, `KILN_FUZZ_SEED=${SEED} KILN_FUZZ_CASE=${String(index).padEnd(12)}\n`, 0)
      f64[0] = Date.now()
      f64[1] = index
      f64[3] = s ? encoder.encodeInto(s.slice(0, TEXT_BYTES / 3), text).written : 0
      f64[2] = 1
    },
    leave() {
      f64[2] = 0
    },
    stop() {
      void worker.terminate()
      closeSync(fd)
      rmSync(currentFile, { force: true })
    },
  }
}
