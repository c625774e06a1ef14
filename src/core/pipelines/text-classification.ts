// text-classification: a …ForSequenceClassification model's labels for each text (or text pair),
// scored with softmax, sigmoid or nothing (Python transformers' function_to_apply, defaulting by
// problem_type and the number of labels), the top k of them; results shaped as transformers.js.
import { option, UsageError } from '../errors.js'
import type { EncoderModel } from '../runtime/encoder.js'
import { asList, encodeText, requireHead } from './load.js'
import { sigmoid, softmax, topK } from './scores.js'

export type ScoreFunction = 'softmax' | 'sigmoid' | 'none'

export interface TextClassificationOptions {
  /** How many labels per text, best first (default 1); null: all of them. */
  topK?: number | null
  /** Default: sigmoid for multi-label or single-output models, none for regression, else softmax. */
  functionToApply?: ScoreFunction
}

export interface LabelScore {
  label: string
  score: number
}

/** A text, or a pair of texts (premise and hypothesis, question and passage). */
export type TextInput = string | { text: string; textPair?: string }

/** topK 1: one LabelScore per text; else a list per text. A single text: its own result, unwrapped. */
export type TextClassificationOutput = LabelScore[] | LabelScore[][]

export function defaultScoreFunction(model: EncoderModel): ScoreFunction {
  const { problemType, labels } = model.config
  if (problemType === 'regression') return 'none'
  if (problemType === 'multi_label_classification' || labels.length === 1) return 'sigmoid'
  return 'softmax'
}

export function scoreRow(row: Float32Array, fn: ScoreFunction): ArrayLike<number> {
  return fn === 'softmax' ? softmax(row) : fn === 'sigmoid' ? sigmoid(row) : Float64Array.from(row)
}

function checkTopK(k: number | null | undefined, labels: number): number {
  if (k === null) return labels
  if (k === undefined) return 1
  if (!Number.isInteger(k) || k < 1)
    throw new UsageError(`${option('topK')} must be an integer ≥ 1 (got ${k})`)
  return Math.min(k, labels)
}

/** The logits row (labels) of each input's first token, through the sequence-classification head. */
export async function classifyLogits(
  model: EncoderModel,
  inputs: readonly TextInput[],
): Promise<Float32Array[]> {
  const encoded = inputs.map((input) => {
    const { text, textPair } = typeof input === 'string' ? { text: input, textPair: undefined } : input
    const e = encodeText(model, text, { pair: textPair })
    return { ids: e.ids, typeIds: e.typeIds }
  })
  return model.forward(encoded, 'logits', 'first')
}

export function textClassification(model: EncoderModel) {
  requireHead(model, 'sequence-classification', 'text-classification')
  const labels = model.config.labels
  return async (
    input: TextInput | readonly TextInput[],
    opts: TextClassificationOptions = {},
  ): Promise<TextClassificationOutput> => {
    const k = checkTopK(opts.topK, labels.length)
    const fn = opts.functionToApply ?? defaultScoreFunction(model)
    if (!['softmax', 'sigmoid', 'none'].includes(fn))
      throw new UsageError(`${option('functionToApply')} must be softmax, sigmoid or none (got ${fn})`)
    const { items, batched } = asList(input)
    const logits = await classifyLogits(model, items)
    const results = logits.map((row) => {
      const scores = scoreRow(row, fn)
      return topK(scores, k).map((i) => ({ label: labels[i], score: scores[i] }))
    })
    if (k === 1) return results.map((r) => r[0])
    return batched ? results : results[0]
  }
}
