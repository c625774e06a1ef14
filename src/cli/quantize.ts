// What `kiln quantize` does: resolve MODEL (folder, repo id, or GGUF), write the quantized GGUF with
// a progress bar per tensor, then load the original and the result and report their perplexity
// and KL divergence on a text.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { FormatError, UsageError } from './errors.js'
import { exportGguf } from './export/index.js'
import type { HubSettings, Output } from './generate-command.js'
import { resolveModelArg } from './hub/model-arg.js'
import { DEFAULT_EVAL_TEXT } from './quantize/eval-text.js'
import { measureQuality, type QualityReport } from './quantize/quality.js'
import { requantizeGguf } from './quantize/requantize.js'
import { QUANTIZE_TYPES, type QuantizeType } from './quantize/types.js'
import { loadModel } from './runtime/model.js'
import { tensorProgress } from './util/tensor-progress.js'

export { QUANTIZE_TYPES, type QuantizeType }

export interface QuantizeInput {
  model: string
  type: QuantizeType
  output?: string
  force: boolean
  evalFile?: string
  quality: boolean
  threads?: number
  hub?: HubSettings
  json: boolean
  quiet: boolean
}

/** `<name>-<type>.gguf` in the working folder: the model folder's (or file's) name. */
function defaultOutput(source: string, type: QuantizeType): string {
  const base = path.basename(path.resolve(source)).replace(/\.gguf$/i, '')
  return path.resolve(`${base}-${type}.gguf`)
}

function readEvalText(file: string | undefined): string {
  if (file === undefined) return DEFAULT_EVAL_TEXT
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`--eval-file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
}

export async function runQuantize(input: QuantizeInput, io: Output): Promise<void> {
  if (!QUANTIZE_TYPES.includes(input.type))
    throw new UsageError(`--type must be one of ${QUANTIZE_TYPES.join(', ')} (got "${input.type}")`)
  const evalText = input.quality ? readEvalText(input.evalFile) : ''
  const source = await resolveModelArg(input.model, input.hub, io)
  const st = statSync(source, { throwIfNoEntry: false })
  if (!st) throw new FormatError(`${source}: no such model folder or file`)
  const output = input.output ?? defaultOutput(source, input.type)
  if (path.resolve(output) === path.resolve(source))
    throw new UsageError(`the output would overwrite ${source}`)
  // The original is loaded (mapped) first: a model kiln cannot run fails before anything is written.
  const base = input.quality ? loadModel(source, { threads: input.threads }) : undefined
  try {
    const tty = process.stderr.isTTY === true && !input.json && !input.quiet
    const progress = tensorProgress(io, { tty, quiet: input.quiet })
    const t0 = performance.now()
    const options = { dtype: input.type, force: input.force }
    const written = st.isFile()
      ? requantizeGguf(source, output, options, (ev) => progress.onEvent(ev))
      : exportGguf(source, output, options, (ev) => progress.onEvent(ev))
    progress.end()
    const seconds = (performance.now() - t0) / 1000
    const bytesIn = st.isFile() ? st.size : folderWeightBytes(source)
    let quality: QualityReport | undefined
    if (base) {
      if (tty) io.err('measuring quality (perplexity and KL divergence)…\n')
      const quant = loadModel(written.path, { threads: input.threads })
      try {
        quality = await measureQuality(base, quant, base.tokenizer.encode(evalText))
      } finally {
        quant.dispose()
      }
    }
    report(input, io, { written, seconds, bytesIn, quality })
  } finally {
    base?.dispose()
  }
}

function report(
  input: QuantizeInput,
  io: Output,
  r: {
    written: { path: string; bytes: number; warnings: string[] }
    seconds: number
    bytesIn: number
    quality?: QualityReport
  },
): void {
  const { written, seconds, bytesIn, quality } = r
  if (input.json) {
    io.out(
      `${JSON.stringify({
        output: written.path,
        type: input.type,
        bytes_in: bytesIn,
        bytes_out: written.bytes,
        seconds: Math.round(seconds * 100) / 100,
        quality: quality ?? null,
        warnings: written.warnings,
      })}\n`,
    )
    return
  }
  io.out(`${written.path}\n`)
  if (input.quiet) return
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`
  io.err(
    `${mb(bytesIn)} → ${mb(written.bytes)} (${((100 * written.bytes) / bytesIn).toFixed(1)}%) in ${seconds.toFixed(1)} s, ${input.type}\n`,
  )
  if (quality)
    io.err(
      `perplexity ${quality.ppl_base.toFixed(3)} → ${quality.ppl_quant.toFixed(3)} · mean KL ${quality.kl_mean.toExponential(3)} ` +
        `(${quality.tokens} tokens of ${input.evalFile ?? 'the built-in text'})\n`,
    )
}

/** Bytes of a model folder's weight files as stored (what the user has on disk before quantizing). */
function folderWeightBytes(dir: string): number {
  let total = 0
  for (const f of readdirSync(dir)) if (f.endsWith('.safetensors')) total += statSync(path.join(dir, f)).size
  return total
}
