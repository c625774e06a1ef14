// What `kiln quantize` does: resolve MODEL (folder, repo id, or GGUF), write the quantized GGUF with
// a progress bar per tensor, then load the original and the result and report their perplexity
// and KL divergence on a text (render.ts prints the report). The engine is imported when it runs,
// so that loading the command to parse its flags stays cheap.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { FormatError, UsageError } from '../core/errors.js'
import type { HubOptions } from '../core/hub/config.js'
import { DEFAULT_EVAL_TEXT } from '../core/quantize/eval-text.js'
import type { QualityReport } from '../core/quantize/quality.js'
import { QUANTIZE_TYPES, type QuantizeType } from '../core/quantize/types.js'
import { fetchModel } from './fetch-model.js'
import { cliIo } from './io.js'
import { tensorProgress } from './progress/tensor-progress.js'
import type { Rendering } from './render.js'

export interface QuantizeInput {
  model: string
  type: QuantizeType
  output?: string
  force: boolean
  evalFile?: string
  quality: boolean
  threads?: number
  hub?: HubOptions
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

/** What `kiln quantize --json` prints. */
export interface QuantizeReport {
  output: string
  type: QuantizeType
  bytes_in: number
  bytes_out: number
  seconds: number
  quality: QualityReport | null
  warnings: string[]
}

export async function runQuantize(input: QuantizeInput): Promise<QuantizeReport> {
  if (!QUANTIZE_TYPES.includes(input.type))
    throw new UsageError(`--type must be one of ${QUANTIZE_TYPES.join(', ')} (got "${input.type}")`)
  const evalText = input.quality ? readEvalText(input.evalFile) : ''
  const source = await fetchModel(input.model, input.hub)
  const st = statSync(source, { throwIfNoEntry: false })
  if (!st) throw new FormatError(`${source}: no such model folder or file`)
  const output = input.output ?? defaultOutput(source, input.type)
  if (path.resolve(output) === path.resolve(source))
    throw new UsageError(`the output would overwrite ${source}`)
  const [{ exportGguf }, { measureQuality }, { requantizeGguf }, { loadModel }] = await Promise.all([
    import('../core/export/index.js'),
    import('../core/quantize/quality.js'),
    import('../core/quantize/requantize.js'),
    import('../core/runtime/model.js'),
  ])
  // The original is loaded (mapped) first: a model kiln cannot run fails before anything is written.
  const base = input.quality ? loadModel(source, { threads: input.threads }) : undefined
  try {
    const progress = tensorProgress(input)
    const t0 = performance.now()
    const options = { dtype: input.type, force: input.force }
    const written = st.isFile()
      ? requantizeGguf(source, output, options, (ev) => progress.onEvent(ev))
      : exportGguf(source, output, options, (ev) => progress.onEvent(ev))
    progress.end()
    const seconds = (performance.now() - t0) / 1000
    let quality: QualityReport | undefined
    if (base) {
      if (progress.tty) cliIo().stderr.write('measuring quality (perplexity and KL divergence)…\n')
      const quant = loadModel(written.path, { threads: input.threads })
      try {
        quality = await measureQuality(base, quant, base.tokenizer.encode(evalText))
      } finally {
        quant.dispose()
      }
    }
    return {
      output: written.path,
      type: input.type,
      bytes_in: st.isFile() ? st.size : folderWeightBytes(source),
      bytes_out: written.bytes,
      seconds: Math.round(seconds * 100) / 100,
      quality: quality ?? null,
      warnings: written.warnings,
    }
  } finally {
    base?.dispose()
  }
}

export const quantizeRendering: Rendering<QuantizeReport> = {
  text(r, { quiet, flags }) {
    const evalFile = flags['eval-file'] as string | undefined
    if (quiet) return { out: `${r.output}\n` }
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`
    let err = `${mb(r.bytes_in)} → ${mb(r.bytes_out)} (${((100 * r.bytes_out) / r.bytes_in).toFixed(1)}%) in ${r.seconds.toFixed(1)} s, ${r.type}\n`
    const q = r.quality
    if (q)
      err +=
        `perplexity ${q.ppl_base.toFixed(3)} → ${q.ppl_quant.toFixed(3)} · mean KL ${q.kl_mean.toExponential(3)} ` +
        `(${q.tokens} tokens of ${evalFile ?? 'the built-in text'})\n`
    return { out: `${r.output}\n`, err }
  },
}

/** Bytes of a model folder's weight files as stored (what the user has on disk before quantizing). */
function folderWeightBytes(dir: string): number {
  let total = 0
  for (const f of readdirSync(dir)) if (f.endsWith('.safetensors')) total += statSync(path.join(dir, f)).size
  return total
}
