// The fuzz targets' files on disk: the codecs that read and write a target's inputs, the regression
// corpus (test/fuzz/corpus/<target>/, replayed every run, with known-bugs.json marking the files
// that reproduce an open bug), and the counterexamples a failure leaves in KILN_FUZZ_OUT for a
// developer to replay or copy into the corpus. Apart from the driver, as the native targets
// (native-batch.ts, addon-api) replay the corpus and save counterexamples with their own loops.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { FuzzFailure } from './harness-property.js'
import { CORPUS_DIR, OUT_DIR, SEED } from './harness-settings.js'
import { type Json, stringifyDeep, treeSize } from './mutate.js'

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
export function saveSurveyCase<T>(
  spec: { target: string; corpus: CorpusCodec<T> },
  key: string,
  input: T,
  e: FuzzFailure,
): void {
  const dir = path.join(OUT_DIR, `${spec.target}-survey`)
  mkdirSync(dir, { recursive: true })
  const base = path.join(dir, key.replace(/[^\w.-]+/g, '_'))
  try {
    writeFileSync(`${base}${spec.corpus.ext}`, spec.corpus.encode(input))
  } catch {}
  writeFileSync(`${base}.txt`, `${e.message}\n`)
}
