// GGUF files for the gguf-model tests: golden folders exported with kiln's writer (whole models,
// or only the tokenizer metadata for the tok-* folders, which have no weights).
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll } from 'vitest'
import { defaultModelPath } from '../../src/core/default-model.js'
import { tokenizerMetadata } from '../../src/core/export/gguf-tokenizer.js'
import { exportGguf } from '../../src/core/export/to-gguf.js'
import { type GgufFile, type GgufValue, gguf, openGguf, writeGguf } from '../../src/core/formats/gguf.js'
import type { ModelConfig } from '../../src/core/models/config.js'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import { golden } from './fixtures.js'

let tmp: string | undefined
function tmpDir(): string {
  if (tmp === undefined) {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-gguf-model-'))
    const dir = tmp
    afterAll(() => rmSync(dir, { recursive: true, force: true }))
  }
  return tmp
}

let counter = 0
/** A fresh path in the test's temporary folder. */
export function tmpPath(name: string): string {
  return path.join(tmpDir(), `${counter++}-${name}`)
}

/** Writes a GGUF holding only `metadata` (no tensors) and opens it. */
export function metadataGguf(name: string, metadata: [string, GgufValue][]): GgufFile {
  const out = tmpPath(`${name}.gguf`)
  writeGguf(out, { metadata, tensors: [] })
  return openGguf(out)
}

/** A tokenizer-only GGUF of a tok-* folder: the metadata kiln's exporter writes for it. */
export function tokenizerGguf(fixture: string): GgufFile {
  const dir = golden(fixture)
  const vocabSize = Tokenizer.fromFolder(dir).vocabSize
  // tokenizerMetadata reads the vocab size and the fallback special ids from the model config.
  const config = { vocabSize, eosTokenIds: [] } as unknown as ModelConfig
  const meta = tokenizerMetadata(dir, config)
  return metadataGguf(fixture, [['general.architecture', gguf.string('llama')], ...meta.entries])
}

const exported = new Map<string, GgufFile>()
/** The model folder a test name stands for: a golden fixture, or the repository's default model. */
export function modelDir(fixture: string): string {
  return fixture === 'default' ? defaultModelPath() : golden(fixture)
}

/** A whole model folder (see modelDir) exported to GGUF (F32), once per test file. */
export function modelGguf(fixture: string): GgufFile {
  let g = exported.get(fixture)
  if (g === undefined) {
    const out = tmpPath(`${fixture}.gguf`)
    exportGguf(modelDir(fixture), out, { dtype: 'f32' })
    g = openGguf(out)
    exported.set(fixture, g)
  }
  return g
}

/** Extra text the goldens do not cover: specials inside text, bytes, spaces, digits, CJK, emoji. */
export const EXTRA_TEXTS = [
  '',
  ' ',
  '   leading and trailing   ',
  'Hello world! 12345 67,890.1 — naïve café',
  'line one\nline two\r\n\ttabbed\n\n',
  "don't I'll we've THEY'RE",
  '日本語のテキスト 🤖🎉 ünïcödé',
  '<s>hello</s> <unk> <|endoftext|><|im_start|>user\nhi<|im_end|>',
  '<|begin_of_text|>x<|eot_id|>',
]
