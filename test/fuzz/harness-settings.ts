// The fuzz run's settings, read once from the environment: the seed, the replay of one case or
// path, the time budget, the survey and slow-case switches, where files go, and the memory bounds.
// They live apart from the harness's code so that each part of it (corpus, watchdog, driver) reads
// the same values without importing the others.
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
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

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
export const REPLAY_PATH = process.env.KILN_FUZZ_PATH || undefined
export const REPLAY_CASE = envNumber('KILN_FUZZ_CASE')
export const MAX_RUNS = envNumber('KILN_FUZZ_RUNS')
/** KILN_FUZZ_SLOW_MS: print every case slower than this (to see where a target's time goes). */
export const SLOW_MS = envNumber('KILN_FUZZ_SLOW_MS')
/** KILN_FUZZ_SURVEY=1: no failure stops the run; each kind is counted by where it happens (to survey a target). */
export const SURVEY = process.env.KILN_FUZZ_SURVEY === '1'
export const OUT_DIR = process.env.KILN_FUZZ_OUT || path.join(os.tmpdir(), 'kiln-fuzz')

/** The time a target's random cases get: KILN_FUZZ_TIME_MS, else its CI budget. */
export function budgetMs(ciMs: number): number {
  return envNumber('KILN_FUZZ_TIME_MS') ?? ciMs
}

/** Resident memory a single case may add (measured before and after it): a header that declares
 * 2^60 elements must be refused before anything that size is allocated. */
export const CASE_RSS_BOUND = 256 * 1024 * 1024
/** Resident memory of the whole test process past which the watchdog stops it, naming the case. */
export const PROCESS_RSS_BOUND = 3 * 1024 * 1024 * 1024
