// POST /v1/embeddings as OpenAI's: one vector per input (text, or token ids taken as the model's
// whole sequence), pooled as the model's folder says (else mean + L2), as float lists or base64
// float32, optionally shortened to `dimensions` (Matryoshka) and re-normalised.
import type { FastifyInstance } from 'fastify'
import { normalizeL2 } from '../../core/pipelines/pooling.js'
import type { EmbeddingInput } from '../../core/pipelines/sentence-embedding.js'
import type { EncoderContext } from '../context.js'
import { checkInput, checkInputCount, runEncoder, yielder } from '../encoder-run.js'
import { HttpError, toHttpError } from '../errors.js'
import { type EmbeddingRequest, embeddingSchema, parseBody } from '../validate.js'
import { checkModel } from './checks.js'

export function embeddingsRoute(app: FastifyInstance, ctx: EncoderContext): void {
  const { embedder } = ctx
  app.post('/v1/embeddings', async (request, reply) => {
    const req = parseBody(embeddingSchema, request.body)
    checkModel(ctx, req.model)
    const dims = req.dimensions ?? embedder.dims
    if (dims < 1 || dims > embedder.dims)
      throw new HttpError(
        400,
        `dimensions must be between 1 and ${embedder.dims} (this model's vectors have ${embedder.dims})`,
        'dimensions',
        'invalid_value',
      )
    const inputs = await embeddingInputs(ctx, req.input)
    const vectors = await runEncoder(ctx, request, reply, inputs, 'hidden', 'all', (hidden, i) => {
      const v = embedder.pool(hidden, inputs[i])
      if (dims === embedder.dims) return v
      // Matryoshka: the leading dimensions, back to unit length when the model's vectors were.
      const short = v.slice(0, dims)
      return embedder.normalized ? normalizeL2(short) : short
    })
    const base64 = req.encoding_format === 'base64'
    const tokens = inputs.reduce((n, x) => n + x.ids.length, 0)
    return {
      object: 'list',
      data: vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? float32Base64(v) : Array.from(v),
      })),
      model: ctx.servedModelName,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    }
  })
}

/**
 * Each input as the model takes it. Text gets the folder's default prompt and the special tokens
 * ([CLS] … [SEP]); token ids are the whole sequence as the client gives it (as vLLM takes them),
 * so they equal the text's when they are what /tokenize returns for it.
 */
async function embeddingInputs(
  ctx: EncoderContext,
  input: EmbeddingRequest['input'],
): Promise<EmbeddingInput[]> {
  const list: (string | number[])[] =
    typeof input === 'string'
      ? [input]
      : input.length > 0 && typeof input[0] === 'number'
        ? [input as number[]]
        : (input as (string | number[])[])
  checkInputCount(list.length, 'input')
  const pause = yielder()
  const out: EmbeddingInput[] = []
  for (const [i, x] of list.entries()) {
    const at = { i, count: list.length, param: 'input', maxLength: ctx.embedder.maxLength }
    // OpenAI refuses an empty string (the model would see its special tokens alone).
    if (x === '')
      throw new HttpError(
        400,
        `${list.length > 1 ? `input[${i}]` : 'input'} must not be an empty string`,
        'input',
        'invalid_value',
      )
    let one: EmbeddingInput
    try {
      one = typeof x === 'string' ? ctx.embedder.encode(x) : { ids: x }
    } catch (e) {
      throw toHttpError(e, { inputParam: 'input' })
    }
    checkInput(ctx, one, at)
    out.push(one)
    await pause()
  }
  return out
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** OpenAI's base64 encoding: the vector's float32 bytes, little-endian whatever the machine's order. */
function float32Base64(v: Float32Array): string {
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength)
  return (LITTLE_ENDIAN ? bytes : Buffer.from(bytes).swap32()).toString('base64')
}
