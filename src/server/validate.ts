// The request bodies of the OpenAI routes as zod schemas: types only (ranges are core's to check, so
// the CLI and the server agree on them). Unknown fields are dropped as OpenAI ignores them; null
// counts as absent, as OpenAI's clients send it for unset fields; a wrong type is a 400 naming the field.
import { z } from 'zod'
import { HttpError } from './errors.js'

/** The message of a field that is absent or of the wrong type (the field's name is put in front). */
const expect = (what: string) => (issue: { input?: unknown }) =>
  issue.input === undefined ? 'is required' : `must be ${what}`

const num = z.number({ error: expect('a number') })
const int = z.number({ error: expect('an integer') }).int({ error: expect('an integer') })
const bool = z.boolean({ error: expect('true or false') })
const str = z.string({ error: expect('a string') })
const tokenIds = z.array(int, { error: expect('an array of token ids') })

/** A string, a list of strings, token ids, or a list of those (a completion's prompt, embeddings' input). */
const textsOrIds = z.union([str, z.array(str), tokenIds, z.array(tokenIds)], {
  error: expect('a string, an array of strings, an array of token ids or an array of such arrays'),
})

/** The sampling and length fields the completion and chat routes share. */
const generationFields = {
  model: str.nullish(),
  max_tokens: int.nullish(),
  /** vLLM's: EOS is suppressed until this many tokens were generated. */
  min_tokens: int.nullish(),
  temperature: num.nullish(),
  top_p: num.nullish(),
  top_k: int.nullish(),
  min_p: num.nullish(),
  repetition_penalty: num.nullish(),
  frequency_penalty: num.nullish(),
  presence_penalty: num.nullish(),
  seed: int.nullish(),
  stop: z
    .union([z.string(), z.array(z.string())], { error: expect('a string or an array of strings') })
    .nullish(),
  n: int.nullish(),
  stream: bool.nullish(),
  stream_options: z
    .object({ include_usage: bool.nullish() }, { error: expect('an object {include_usage}') })
    .nullish(),
  logit_bias: z.record(z.string(), z.unknown(), { error: expect('an object') }).nullish(),
  add_special_tokens: bool.nullish(),
  /** vLLM's: generate past EOS, to max_tokens (benchmarks). */
  ignore_eos: bool.nullish(),
  /** Chat's; on completions, vLLM's extension. */
  response_format: z.looseObject({ type: str }, { error: expect('an object {type}') }).nullish(),
}

export const completionSchema = z.object({
  ...generationFields,
  prompt: textsOrIds,
  echo: bool.nullish(),
  logprobs: int.nullish(),
  suffix: str.nullish(),
  best_of: int.nullish(),
})

const contentPart = z.looseObject(
  { type: str, text: str.optional() },
  { error: expect('a content part {type, text}') },
)

const message = z.looseObject(
  {
    role: str,
    content: z
      .union([str, z.array(contentPart)], { error: expect('a string or an array of content parts') })
      .nullish(),
  },
  { error: expect('a message {role, content}') },
)

export const chatSchema = z.object({
  ...generationFields,
  messages: z.array(message, { error: expect('an array of messages') }),
  max_completion_tokens: int.nullish(),
  logprobs: bool.nullish(),
  top_logprobs: int.nullish(),
  echo: bool.nullish(),
  tools: z.array(z.unknown(), { error: expect('an array') }).nullish(),
  tool_choice: z.unknown().optional(),
  functions: z.array(z.unknown(), { error: expect('an array') }).nullish(),
})

export const tokenizeSchema = z.union(
  [
    z.object({
      model: str.nullish(),
      prompt: str,
      add_special_tokens: bool.nullish(),
    }),
    z.object({
      model: str.nullish(),
      messages: z.array(message, { error: expect('an array of messages') }),
      add_generation_prompt: bool.nullish(),
      add_special_tokens: bool.nullish(),
    }),
  ],
  { error: expect('an object with a prompt string or a messages array') },
)

export const detokenizeSchema = z.object({ model: str.nullish(), tokens: tokenIds })

export const embeddingSchema = z.object({
  model: str.nullish(),
  input: textsOrIds,
  encoding_format: z.enum(['float', 'base64'], { error: expect('"float" or "base64"') }).nullish(),
  dimensions: int.nullish(),
  user: str.nullish(),
})

/** vLLM's /classify. */
export const classifySchema = z.object({
  model: str.nullish(),
  input: z.union([str, z.array(str)], { error: expect('a string or an array of strings') }),
})

export type CompletionRequest = z.infer<typeof completionSchema>
export type ChatRequest = z.infer<typeof chatSchema>
export type ChatRequestMessage = z.infer<typeof message>
export type TokenizeRequest = z.infer<typeof tokenizeSchema>
export type DetokenizeRequest = z.infer<typeof detokenizeSchema>
export type EmbeddingRequest = z.infer<typeof embeddingSchema>

/** A field's path as a client reads it: messages[0].content. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  )
}

/** The body as `schema` types it, or a 400 naming the first field that is wrong. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(400, 'the request body must be a JSON object', null, 'invalid_type')
  const parsed = schema.safeParse(body, { reportInput: true })
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const param = fieldPath(issue.path)
  if (!param) throw new HttpError(400, `the request body ${issue.message}`, null, 'invalid_type')
  const code = issue.message === 'is required' ? 'missing_required_parameter' : 'invalid_type'
  throw new HttpError(400, `${param} ${issue.message}`, param, code)
}
