// kiln fill-mask: the best tokens for the mask token(s) of each text. Text mode: a line per
// candidate — score, token, the filled-in text — and a blank line after each text (and after each
// mask of a text with several); --json a line per text: {text, candidates}.
import type { FillMaskCandidate, FillMaskOutput } from '../../core/pipelines/index.js'
import { runTextTask, type TaskInput, type TaskSummary } from './run-task.js'

export interface FillMaskInput extends TaskInput {
  topK?: number
  targets?: string[]
}

const candidateLines = (cs: FillMaskCandidate[]) =>
  `${cs.map((c) => `${c.score.toFixed(4)}\t${c.token_str}\t${c.sequence}\n`).join('')}\n`

export async function runFillMask(input: FillMaskInput): Promise<TaskSummary> {
  const { fillMask } = await import('../../core/pipelines/fill-mask.js')
  return runTextTask(input, (model) => {
    const unmask = fillMask(model)
    return {
      run: async (texts) =>
        (await unmask(texts, { topK: input.topK, targets: input.targets })) as FillMaskOutput[],
      text: (r) =>
        Array.isArray(r[0])
          ? (r as FillMaskCandidate[][]).map(candidateLines).join('')
          : candidateLines(r as FillMaskCandidate[]),
      json: (r, t) => ({ text: t.text, candidates: r }),
    }
  })
}
