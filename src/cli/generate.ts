// What `kiln generate` does between parsing flags and printing: resolve the prompt(s), load the
// model, run the generation and render it as streamed text, JSON, or JSON lines.
import { readFileSync } from 'node:fs'
import { defaultModelPath } from './default-model.js'
import { UsageError } from './errors.js'
import { resolveModelArg } from './hub/model-arg.js'
import { type GenerateOptions, type GenerationResult, validateGenerateOptions } from './runtime/generate.js'
import { loadModel, type Model } from './runtime/model.js'

/** Where repo ids are fetched from, already resolved (flag > env > settings file > default). */
export interface HubSettings {
  endpoint?: string
  cacheDir?: string
  token?: string
  offline?: boolean
}

export interface GenerateInput {
  prompt?: string
  model?: string
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
  hub?: HubSettings
  promptsFile?: string
  json: boolean
  quiet: boolean
}

export interface Output {
  out(text: string): void
  err(text: string): void
}

function num(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number (got "${v}")`)
  return n
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
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
  if (input.prompt === '-' || !process.stdin.isTTY) return [(await readStdin()).replace(/\r?\n$/, '')]
  throw new UsageError('no prompt: give PROMPT, pipe it on stdin, or use --prompts-file')
}

function applyChat(model: Model, prompt: string, system?: string): string {
  if (!model.tokenizer.hasChatTemplate) throw new UsageError(`--chat: ${model.dir} has no chat template`)
  const messages = system ? [{ role: 'system', content: system }] : []
  messages.push({ role: 'user', content: prompt })
  return model.tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true })
}

function toJson(r: GenerationResult, loadMs: number) {
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

export async function runGenerate(input: GenerateInput, io: Output): Promise<void> {
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
  }
  // Bad flags are usage errors (exit 2) whatever the model: report them before loading one.
  validateGenerateOptions(options)
  const prompts = await resolvePrompts(input)
  const modelPath = input.model ? await resolveModelArg(input.model, input.hub, io) : defaultModelPath()
  const model = loadModel(modelPath, { threads: input.threads, dtype: input.dtype })
  try {
    const texts = input.chat ? prompts.map((p) => applyChat(model, p, input.system)) : prompts
    if (input.chat) options.addSpecialTokens = false // the template already holds BOS and friends
    const it = model.generateMany(texts, options)
    const batch = input.promptsFile !== undefined
    let step = await it.next()
    while (!step.done) {
      if (!batch && !input.json && step.value.text) io.out(step.value.text)
      step = await it.next()
    }
    const results = step.value
    if (batch) {
      for (const r of results) io.out(`${JSON.stringify(toJson(r, model.loadMs))}\n`)
    } else if (input.json) {
      io.out(`${JSON.stringify(toJson(results[0], model.loadMs))}\n`)
    } else {
      io.out('\n')
      const r = results[0]
      if (!input.quiet) {
        io.err(
          `load ${model.loadMs.toFixed(0)} ms · prompt ${r.promptTokens} tokens at ${r.timings.prefillTokensPerS.toFixed(1)} tok/s · ` +
            `generated ${r.completionTokens} tokens at ${r.timings.decodeTokensPerS.toFixed(1)} tok/s (${r.finishReason})\n`,
        )
      }
    }
  } finally {
    model.dispose()
  }
}
