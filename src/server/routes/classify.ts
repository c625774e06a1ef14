// POST /classify as vLLM's: each text through a …ForSequenceClassification model, scored as core's
// text-classification pipeline scores it (softmax, or sigmoid for multi-label and one-label models,
// by problem_type), with every label's probability and the best label by the model's id2label.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { maxInputLength } from '../../core/pipelines/load.js'
import { argmax } from '../../core/pipelines/scores.js'
import { defaultScoreFunction, scoreRow } from '../../core/pipelines/text-classification.js'
import type { EncoderInput } from '../../core/runtime/encoder.js'
import type { EncoderContext } from '../context.js'
import { checkInput, checkInputCount, runEncoder, yielder } from '../encoder-run.js'
import { HttpError, toHttpError } from '../errors.js'
import { classifySchema, parseBody } from '../validate.js'
import { checkModel } from './checks.js'

export function classifyRoute(app: FastifyInstance, ctx: EncoderContext): void {
  const model = ctx.encoder.model
  const { labels } = model.config
  const score = defaultScoreFunction(model)
  // --context may lower the model's own limit; a sentence-transformers max_seq_length is for embeddings.
  const maxLength = maxInputLength(model, ctx.inputLimit)
  app.post('/classify', async (request, reply) => {
    if (model.config.head !== 'sequence-classification')
      throw new HttpError(
        400,
        `The model \`${ctx.servedModelName}\` has no sequence-classification head (it is ${model.config.architecture ?? 'a bare encoder'}): /classify needs a …ForSequenceClassification model. It serves /v1/embeddings.`,
        'model',
        'unsupported_task',
      )
    const req = parseBody(classifySchema, request.body)
    checkModel(ctx, req.model)
    const texts = typeof req.input === 'string' ? [req.input] : req.input
    checkInputCount(texts.length, 'input')
    const pause = yielder()
    const inputs: EncoderInput[] = []
    for (const [i, text] of texts.entries()) {
      let e: { ids: number[]; typeIds: number[] }
      try {
        e = model.tokenizer.encodeWithOffsets(text)
      } catch (err) {
        throw toHttpError(err, { inputParam: 'input' })
      }
      const one = { ids: e.ids, typeIds: e.typeIds }
      checkInput(ctx, one, { i, count: texts.length, param: 'input', maxLength })
      inputs.push(one)
      await pause()
    }
    const probs = await runEncoder(ctx, request, reply, inputs, 'logits', 'first', (logits) =>
      Array.from(scoreRow(logits, score)),
    )
    const tokens = inputs.reduce((n, x) => n + x.ids.length, 0)
    return {
      id: `classify-${randomUUID().replaceAll('-', '')}`,
      object: 'list',
      created: Math.floor(Date.now() / 1000),
      model: ctx.servedModelName,
      data: probs.map((p, index) => ({
        index,
        label: labels[argmax(p)],
        probs: p,
        num_classes: labels.length,
      })),
      // vLLM's usage: completion_tokens is there, and 0.
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
    }
  })
}
