// kiln ner: entities from a token classifier. Text mode: a line per entity — type, the words,
// start-end (UTF-16 offsets into the text), score — and a blank line after each text; --json a
// line per text: {text, entities}.
import type { AggregationStrategy, EntityGroup, TokenEntity } from '../../core/pipelines/index.js'
import { runTextTask, type TaskInput, type TaskSummary } from './run-task.js'

export interface NerInput extends TaskInput {
  aggregation: AggregationStrategy
  ignoreLabels?: string[]
}

type Entity = TokenEntity | EntityGroup

function entityLine(e: Entity): string {
  const type = 'entity_group' in e ? e.entity_group : e.entity
  return `${type}\t${e.word}\t${e.start}-${e.end}\t${e.score.toFixed(4)}\n`
}

export async function runNer(input: NerInput): Promise<TaskSummary> {
  const { tokenClassification } = await import('../../core/pipelines/token-classification.js')
  return runTextTask(input, (model) => {
    const ner = tokenClassification(model)
    return {
      run: async (texts) =>
        (await ner(texts, {
          aggregationStrategy: input.aggregation,
          ignoreLabels: input.ignoreLabels,
        })) as Entity[][],
      text: (r) => `${r.map(entityLine).join('')}\n`,
      json: (r, t) => ({ text: t.text, entities: r }),
    }
  })
}
