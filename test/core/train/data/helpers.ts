// Temp folders and tokenizers for the training data tests.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach } from 'vitest'
import { loadTokenizer, type Tokenizer } from '../../../../src/core/tokenizer/index.js'
import { GOLDEN } from '../../../helpers/fixtures.js'

/** A tokenizer of test/fixtures/golden. */
export function goldenTokenizer(name: string): Tokenizer {
  return loadTokenizer(join(GOLDEN, name))
}

/** A temp folder per call, removed after each test. */
export function useTmp(): (name: string, content?: string | Uint8Array) => string {
  let dir: string | undefined
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })
  return (name, content) => {
    dir ??= mkdtempSync(join(tmpdir(), 'kiln-train-data-'))
    const path = join(dir, name)
    if (content !== undefined) writeFileSync(path, content)
    return path
  }
}

/** The runs of counted ids (labels ≠ -100), each decoded. */
export function countedSpans(tokenizer: Tokenizer, ids: number[], labels: number[]): string[] {
  const spans: number[][] = []
  let cur: number[] | undefined
  labels.forEach((l, i) => {
    if (l === -100) {
      cur = undefined
      return
    }
    if (!cur) {
      cur = []
      spans.push(cur)
    }
    cur.push(ids[i])
  })
  return spans.map((s) => tokenizer.decode(s))
}
