// The child process of the native fuzz phase: opens each file of a batch with kiln's real readers,
// which memory-map it through the addon (safetensors: openSafetensors; gguf: openGguf, then the
// model info and tokenizer rebuilt from its metadata), and touches every tensor's first and last
// byte. Bundled from the sources by native-batch.ts; a line before and after each case tells the
// parent which case a crash or a hang belongs to.
//   node child.mjs <safetensors|gguf> <file listing the case files as JSON>
import { readFileSync, writeSync } from 'node:fs'
import { KilnError } from '../../src/core/errors.js'
import { openGguf } from '../../src/core/formats/gguf-read.js'
import { openSafetensors } from '../../src/core/formats/safetensors-read.js'
import { ggufModelInfo } from '../../src/core/models/gguf-model-info.js'
import { ggufTokenizer } from '../../src/core/tokenizer/from-gguf.js'

const [kind, listFile] = process.argv.slice(2)
const files = JSON.parse(readFileSync(listFile, 'utf8')) as string[]

let sink = 0
function touch(data: Uint8Array): void {
  if (data.byteLength === 0) return
  sink ^= data[0] ^ data[data.byteLength - 1]
}

/** Each step's error is reported; a step's success lets the next one run. */
function run(file: string): void {
  if (kind === 'safetensors') {
    const f = openSafetensors(file)
    for (const t of f.tensors.values()) touch(t.data)
    return
  }
  const g = openGguf(file)
  for (const t of g.tensors.values()) touch(t.data)
  let tokenizerError: unknown
  try {
    ggufTokenizer(g).encode('Hello world! 123 <s>')
  } catch (e) {
    tokenizerError = e
  }
  ggufModelInfo(g)
  if (tokenizerError !== undefined) throw tokenizerError
}

for (let i = 0; i < files.length; i++) {
  writeSync(1, `S ${i}\n`)
  let outcome: Record<string, unknown>
  try {
    run(files[i])
    outcome = { ok: true }
  } catch (e) {
    const err = e as Error & { code?: unknown }
    outcome = {
      ok: false,
      kiln: e instanceof KilnError,
      name: err?.constructor?.name ?? typeof e,
      code: err?.code,
      message: String(err?.message ?? e),
      stack: String(err?.stack ?? ''),
    }
  }
  writeSync(1, `D ${i} ${JSON.stringify(outcome)}\n`)
}
writeSync(1, `E ${sink}\n`)
