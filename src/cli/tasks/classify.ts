// kiln classify: labels for each text from a sequence classifier, or, with --labels, zero-shot
// from an NLI model. Text mode prints a line per text: label and score, tab-separated (top k:
// pairs in order); --json a line per text: {text, labels: [{label, score}]}.
import { UsageError } from '../../core/errors.js'
import type { LabelScore } from '../../core/pipelines/index.js'
import { runTextTask, type TaskInput, type TaskSummary } from './run-task.js'

export interface ClassifyInput extends TaskInput {
  topK?: number
  multiLabel: boolean
  /** Zero-shot candidate labels (comma-separated on the command line). */
  labels?: string[]
  hypothesisTemplate?: string
}

const line = (labels: LabelScore[]) =>
  `${labels.map((l) => `${l.label}\t${l.score.toFixed(4)}`).join('\t')}\n`

export async function runClassify(input: ClassifyInput): Promise<TaskSummary> {
  if (input.topK !== undefined && (!Number.isInteger(input.topK) || input.topK < 1))
    throw new UsageError(`--top-k must be an integer ≥ 1 (got ${input.topK})`)
  const { textClassification } = await import('../../core/pipelines/text-classification.js')
  const { zeroShotClassification } = await import('../../core/pipelines/zero-shot.js')
  return runTextTask(input, (model) => {
    if (input.labels !== undefined) {
      const zs = zeroShotClassification(model)
      const k = input.topK ?? input.labels.length
      return {
        async run(texts) {
          const results = (await zs(texts, input.labels!, {
            multiLabel: input.multiLabel,
            hypothesisTemplate: input.hypothesisTemplate,
          })) as { labels: string[]; scores: number[] }[]
          return results.map((r) => r.labels.slice(0, k).map((label, i) => ({ label, score: r.scores[i] })))
        },
        text: (r) => line(r),
        json: (r, t) => ({ text: t.text, labels: r }),
      }
    }
    const classify = textClassification(model)
    const all = model.config.labels.length
    return {
      async run(texts) {
        const out = await classify(texts, {
          topK: input.topK ?? (input.multiLabel ? null : 1),
          functionToApply: input.multiLabel ? 'sigmoid' : undefined,
        })
        // topK 1 gives one LabelScore per text; more gives a list per text.
        return (input.topK ?? (input.multiLabel ? all : 1)) === 1
          ? (out as LabelScore[]).map((x) => [x])
          : (out as LabelScore[][])
      },
      text: (r) => line(r),
      json: (r, t) => ({ text: t.text, labels: r }),
    }
  })
}
