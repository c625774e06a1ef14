// The native phase of the format targets: batches of mutated files opened by kiln's real readers
// (memory-mapped by the addon) in a child process, so that a crash (a fault in native code, a V8
// fatal error) or a hang is reported with its case instead of killing vitest. The child
// (native-child.ts) is bundled from the sources with esbuild (vitest's own dependency) on first use,
// with source maps, so stacks name the source files.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import { it } from 'vitest'
import { bundledChild, runCaseChild } from './case-child.js'
import {
  budgetMs,
  corpusFiles,
  FuzzFailure,
  type FuzzSpec,
  OUT_DIR,
  report,
  SEED,
  saveCounterexample,
} from './harness.js'

/** The child bundled into a temporary folder (once per test file). */
const childScript = bundledChild('native-child')

interface ChildOutcome {
  ok: boolean
  kiln?: boolean
  name?: string
  code?: unknown
  message?: string
  stack?: string
}

export type BatchResult =
  | { outcomes: ChildOutcome[] }
  | { outcomes: ChildOutcome[]; crashed: number; why: string; stderr: string }

/** Opens each of `cases` (file bytes) in one child; stops at a crash or a case past `hangMs`. */
export async function runBatch(
  kind: 'safetensors' | 'gguf',
  cases: Uint8Array[],
  hangMs: number,
): Promise<BatchResult> {
  const script = await childScript()
  const dir = mkdtempSync(path.join(os.tmpdir(), `kiln-fuzz-${kind}-`))
  try {
    const files = cases.map((bytes, i) => {
      const f = path.join(dir, `case-${i}.${kind}`)
      writeFileSync(f, bytes)
      return f
    })
    const list = path.join(dir, 'cases.json')
    writeFileSync(list, JSON.stringify(files))
    const run = await runCaseChild<ChildOutcome>(script, [kind, list], cases.length, hangMs)
    const { results, ...rest } = run
    return { outcomes: results, ...rest }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The property on a child's outcome, as FuzzFailure. */
function checkOutcome(o: ChildOutcome): void {
  if (o.ok) return
  if (!o.kiln) throw new FuzzFailure(`threw ${o.name}: ${o.message}\n${o.stack}`, 'exception')
  if (typeof o.code !== 'string' || !o.code.startsWith('E_'))
    throw new FuzzFailure(`threw a KilnError without a code: ${o.name}: ${o.message}`, 'exception')
  if (/[\r\n]/.test(o.message ?? ''))
    throw new FuzzFailure(
      `${o.name} (${o.code}) message is not one line: ${JSON.stringify(o.message?.slice(0, 400))}\n${o.stack}`,
      'multiline',
    )
}

/**
 * Declares the native phase of a format target: random cases (fc.sample with the run's seed) in
 * batches of `batch` through runBatch, for a share of the target's budget.
 */
export function nativePhase(
  spec: FuzzSpec<Uint8Array> & { kind: 'safetensors' | 'gguf' },
  opts: { ciMs: number; batch: number },
): void {
  const timeMs = budgetMs(opts.ciMs) * (process.env.KILN_FUZZ_TIME_MS ? 0.25 : 1)
  it(`native reads in a child process, batches of ${opts.batch} (seed ${SEED})`, {
    timeout: timeMs * 3 + 120_000,
  }, async () => {
    const t0 = performance.now()
    let cases = 0
    const known: Record<string, number> = {}
    const failures: string[] = []
    // Round 0 replays the corpus (but the files of known bugs) through the real readers.
    const corpus = corpusFiles(spec.target, spec.corpus.ext)
      .filter((f) => !f.known && !f.crashes)
      .map((f) => spec.corpus.decode(readFileSync(f.file)))
    for (let round = 0; failures.length === 0 && (round === 0 || performance.now() - t0 < timeMs); round++) {
      const batch = [
        ...(round === 0 ? corpus : []),
        ...fc.sample(spec.arbitrary, { seed: SEED + round, numRuns: opts.batch }),
      ]
      const result = await runBatch(spec.kind, batch, Math.max(spec.caseMs * 5, 30_000))
      const done = 'crashed' in result ? result.crashed : batch.length
      for (let i = 0; i < done; i++) {
        cases++
        try {
          if (result.outcomes[i]) checkOutcome(result.outcomes[i])
        } catch (e) {
          const bug = spec.known?.find((k) => k.matches(e as FuzzFailure, batch[i]))?.name
          if (bug) {
            known[bug] = (known[bug] ?? 0) + 1
            continue
          }
          failures.push(
            `${spec.target} (child): ${(e as Error).message}\nCase saved to ${saveCounterexample(spec, batch[i])} ` +
              `(fc.sample seed ${SEED + round}, case ${i})`,
          )
          break
        }
      }
      if ('crashed' in result) {
        cases++
        mkdirSync(OUT_DIR, { recursive: true })
        failures.push(
          `${spec.target} (child): case ${result.crashed} of a batch: ${result.why}; saved to ` +
            `${saveCounterexample(spec, batch[result.crashed])} (fc.sample seed ${SEED + round}). ` +
            `stderr: ${result.stderr.slice(-2000)}`,
        )
      }
    }
    report({ target: spec.target, phase: 'child', cases, ms: performance.now() - t0, failures, known })
    if (failures.length) throw new Error(failures[0])
  })
}
