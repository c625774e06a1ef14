// Runs addon-api cases in batches in a child process (addon-child.ts, bundled from the sources with
// esbuild on first use, as native-batch.ts does for the format targets), so that an abort, a fault
// or a hang in native code is reported with its case instead of killing vitest.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { AddonCall, CallOutcome } from './addon-values.js'
import { bundledChild, runCaseChild } from './case-child.js'

const childScript = bundledChild('addon-child')

export interface CaseResult {
  outcomes: CallOutcome[]
  ms: number
  grew: number
}

export type AddonBatchResult =
  | { results: CaseResult[] }
  | { results: CaseResult[]; crashed: number; why: string; stderr: string }

/** Runs `cases` in one child; stops at a crash or at a case past `hangMs`. */
export async function runAddonBatch(cases: AddonCall[][], hangMs: number): Promise<AddonBatchResult> {
  const script = await childScript()
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-addon-'))
  try {
    const list = path.join(dir, 'cases.json')
    writeFileSync(list, JSON.stringify(cases))
    return await runCaseChild<CaseResult>(script, [list, path.join(dir, 'scratch')], cases.length, hangMs)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
