// zero-shot-classification with an NLI model (…ForSequenceClassification with an "entailment"
// label): each candidate label becomes a hypothesis ("This example is {}.") scored against the
// text as premise; one label set: softmax of the entailment logits across labels; multiLabel (or
// a single label): entailment against contradiction, per label. As Python transformers.
import { ConfigError, option, UsageError } from '../errors.js'
import type { EncoderModel } from '../runtime/encoder.js'
import { asList, encodeText, requireHead } from './load.js'
import { softmax } from './scores.js'

export interface ZeroShotOptions {
  /** With `{}` where the label goes (default "This example is {}."). */
  hypothesisTemplate?: string
  /** Score each label on its own (default false: the scores of a text sum to 1). */
  multiLabel?: boolean
}

export interface ZeroShotResult {
  sequence: string
  labels: string[]
  scores: number[]
}

/** The index of the label that starts with "entail" (entailment), as transformers finds it. */
export function entailmentIndex(model: EncoderModel): number {
  const i = model.config.labels.findIndex((l) => l.toLowerCase().startsWith('entail'))
  if (i < 0)
    throw new ConfigError(
      `zero-shot-classification needs an NLI model with an "entailment" label; ${model.dir} has ${model.config.labels.join(', ')}`,
    )
  return i
}

export function zeroShotClassification(model: EncoderModel) {
  requireHead(model, 'sequence-classification', 'zero-shot-classification')
  const entail = entailmentIndex(model)
  const contradiction = entail === 0 ? model.config.labels.length - 1 : 0
  return async (
    input: string | readonly string[],
    candidateLabels: string | readonly string[],
    opts: ZeroShotOptions = {},
  ): Promise<ZeroShotResult | ZeroShotResult[]> => {
    const labels = (typeof candidateLabels === 'string' ? candidateLabels.split(',') : [...candidateLabels])
      .map((l) => l.trim())
      .filter((l) => l.length > 0)
    if (labels.length === 0) throw new UsageError(`${option('candidateLabels')} must name at least one label`)
    const template = opts.hypothesisTemplate ?? 'This example is {}.'
    if (!template.includes('{}'))
      throw new UsageError(
        `${option('hypothesisTemplate')} must contain {} where the label goes (got "${template}")`,
      )
    const multi = opts.multiLabel === true || labels.length === 1
    const { items, batched } = asList(input)
    const pairs = items.flatMap((text) =>
      labels.map((label) => {
        const e = encodeText(model, text, { pair: template.replace('{}', label), truncation: 'only_first' })
        return { ids: e.ids, typeIds: e.typeIds }
      }),
    )
    const logits = await model.forward(pairs, 'logits', 'first')
    const results = items.map((sequence, i) => {
      const rows = logits.slice(i * labels.length, (i + 1) * labels.length)
      const scores = multi
        ? rows.map((r) => softmax([r[contradiction], r[entail]])[1])
        : Array.from(softmax(rows.map((r) => r[entail])))
      const order = scores.map((_, j) => j).sort((a, b) => scores[b] - scores[a] || a - b)
      return { sequence, labels: order.map((j) => labels[j]), scores: order.map((j) => scores[j]) }
    })
    return batched ? results : results[0]
  }
}
