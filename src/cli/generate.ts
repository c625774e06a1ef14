// What `kiln generate` does between parsing flags and printing: resolve the prompt(s), load the
// model, stream the generated text (text mode) and return the result (render.ts prints it). The
// engine is imported when it runs, so that loading the command to parse its flags stays cheap.
import { readFileSync } from 'node:fs'
import type { ResponseFormat } from '../core/constrain/index.js'
import { defaultModelPath } from '../core/default-model.js'
import { KilnError, renderMessage, UsageError } from '../core/errors.js'
import type { HubOptions } from '../core/hub/config.js'
import {
  type GenerateOptions,
  type GenerationResult,
  validateGenerateOptions,
} from '../core/runtime/generate.js'
import type { Model } from '../core/runtime/model.js'
import { fetchAdapter, fetchModel } from './fetch-model.js'
import { cliIo, readAll } from './io.js'
import { jsonText, type Rendering } from './render.js'

export interface GenerateInput {
  prompt?: string
  model?: string
  /** A PEFT LoRA adapter folder or repo id applied at load. */
  adapter?: string
  maxNewTokens?: number
  minNewTokens?: number
  temperature?: string
  topK?: number
  topP?: string
  minP?: string
  repetitionPenalty?: string
  seed?: number
  stop?: string[]
  chat: boolean
  system?: string
  threads?: number
  /** Weight dtype to compute in ('auto' = as stored). */
  dtype?: 'auto' | 'f32' | 'f16' | 'bf16'
  hub?: HubOptions
  promptsFile?: string
  /** A JSON schema file: the output is JSON that matches it (constrained decoding). */
  jsonSchema?: string
  /** Text mode streams tokens as they come; --json prints the result alone. */
  json: boolean
}

/** One generation as `--json` (and each line of --prompts-file) prints it. */
export interface GenerateJson {
  text: string
  tokens: number[]
  prompt_tokens: number
  completion_tokens: number
  finish_reason: GenerationResult['finishReason']
  timings: { load_ms: number; prefill_tokens_per_s: number; decode_tokens_per_s: number }
}

export interface GenerateReport {
  /** --prompts-file: one JSON line per prompt, whatever the output mode. */
  batch: boolean
  results: GenerateJson[]
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number (got "${v}")`)
  return n
}

function readSchema(file: string): ResponseFormat {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`--json-schema ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  try {
    return { type: 'json_schema', schema: JSON.parse(text) }
  } catch (e) {
    throw new UsageError(`--json-schema ${file}: not valid JSON (${(e as Error).message})`)
  }
}

async function resolvePrompts(input: GenerateInput): Promise<string[]> {
  if (input.promptsFile) {
    if (input.prompt !== undefined) throw new UsageError('give either PROMPT or --prompts-file, not both')
    let text: string
    try {
      text = readFileSync(input.promptsFile, 'utf8')
    } catch (e) {
      throw new UsageError(
        `--prompts-file ${input.promptsFile}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`,
      )
    }
    const prompts: string[] = []
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return
      let obj: unknown
      try {
        obj = JSON.parse(line)
      } catch {
        throw new UsageError(`--prompts-file ${input.promptsFile}:${i + 1}: not valid JSON`)
      }
      const p = (obj as { prompt?: unknown })?.prompt
      if (typeof p !== 'string')
        throw new UsageError(`--prompts-file ${input.promptsFile}:${i + 1}: needs a "prompt" string`)
      prompts.push(p)
    })
    if (prompts.length === 0) throw new UsageError(`--prompts-file ${input.promptsFile}: no prompts`)
    return prompts
  }
  if (input.prompt !== undefined && input.prompt !== '-') return [input.prompt]
  const stdin = cliIo().stdin
  if (input.prompt === '-' || !stdin.isTTY) return [(await readAll(stdin)).replace(/\r?\n$/, '')]
  throw new UsageError('no prompt: give PROMPT, pipe it on stdin, or use --prompts-file')
}

function applyChat(model: Model, prompt: string, system?: string): string {
  if (!model.tokenizer.hasChatTemplate) throw new UsageError(`--chat: ${model.dir} has no chat template`)
  const messages = system ? [{ role: 'system', content: system }] : []
  messages.push({ role: 'user', content: prompt })
  return model.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })
}

function toJson(r: GenerationResult, loadMs: number): GenerateJson {
  return {
    text: r.text,
    tokens: r.tokens,
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    finish_reason: r.finishReason,
    timings: {
      load_ms: round(loadMs),
      prefill_tokens_per_s: round(r.timings.prefillTokensPerS),
      decode_tokens_per_s: round(r.timings.decodeTokensPerS),
    },
  }
}

const round = (x: number) => Math.round(x * 100) / 100

export async function runGenerate(input: GenerateInput): Promise<GenerateReport> {
  if (input.system !== undefined && !input.chat) throw new UsageError('--system needs --chat')
  if (input.threads !== undefined && input.threads < 1) throw new UsageError('--threads must be at least 1')
  const options: GenerateOptions = {
    maxNewTokens: input.maxNewTokens,
    minNewTokens: input.minNewTokens,
    temperature: num('temperature', input.temperature),
    topK: input.topK,
    topP: num('top-p', input.topP),
    minP: num('min-p', input.minP),
    repetitionPenalty: num('repetition-penalty', input.repetitionPenalty),
    seed: input.seed,
    stop: input.stop,
    responseFormat: input.jsonSchema === undefined ? undefined : readSchema(input.jsonSchema),
  }
  // Bad flags are usage errors (exit 2) whatever the model: report them before loading one.
  try {
    validateGenerateOptions(options)
  } catch (e) {
    // The schema's problems name the file it came from, not the library's option.
    if (input.jsonSchema !== undefined && e instanceof KilnError && e.options[0] === 'responseFormat')
      throw new UsageError(renderMessage(e, () => `--json-schema ${input.jsonSchema}`))
    throw e
  }
  const prompts = await resolvePrompts(input)
  const modelPath = input.model ? await fetchModel(input.model, input.hub) : defaultModelPath()
  const adapter = input.adapter === undefined ? undefined : await fetchAdapter(input.adapter, input.hub)
  const { loadModel } = await import('../core/runtime/model.js')
  const model = loadModel(modelPath, { threads: input.threads, dtype: input.dtype, adapter })
  try {
    const texts = input.chat ? prompts.map((p) => applyChat(model, p, input.system)) : prompts
    if (input.chat) options.addSpecialTokens = false // the template already holds BOS and friends
    const it = model.generateMany(texts, options)
    const batch = input.promptsFile !== undefined
    const stdout = cliIo().stdout
    let step = await it.next()
    while (!step.done) {
      if (!batch && !input.json && step.value.text) stdout.write(step.value.text)
      step = await it.next()
    }
    return { batch, results: step.value.map((r) => toJson(r, model.loadMs)) }
  } finally {
    model.dispose()
  }
}

export const generateRendering: Rendering<GenerateReport> = {
  jsonLines: (r) => r.results,
  text(r, { quiet }) {
    if (r.batch) return { out: jsonText(r.results) }
    // The text itself was streamed as it was decoded; what is left is the end of its line.
    const g = r.results[0]
    const t = g.timings
    const report =
      `load ${t.load_ms.toFixed(0)} ms · prompt ${g.prompt_tokens} tokens at ${t.prefill_tokens_per_s.toFixed(1)} tok/s · ` +
      `generated ${g.completion_tokens} tokens at ${t.decode_tokens_per_s.toFixed(1)} tok/s (${g.finish_reason})\n`
    return { out: '\n', err: quiet ? undefined : report }
  },
}
