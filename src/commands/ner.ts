// kiln ner: named entities from a token classifier.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { runNer } from '../cli/tasks/ner.js'
import { type TaskSummary, taskRendering } from '../cli/tasks/run-task.js'
import { taskFlags, taskInput } from '../cli/tasks/task-flags.js'
import type { AggregationStrategy } from '../core/pipelines/index.js'

export default class Ner extends BaseCommand<TaskSummary> {
  static summary = 'Find named entities in texts with a token classifier.'
  static description =
    `Runs a …ForTokenClassification model (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) on each TEXT, line of
--file or line of stdin, and prints a line per entity: its type, its words, start-end (offsets into
the text in UTF-16 code units, as JavaScript indexes strings) and its score; a blank line ends each
text. --aggregation says how tokens become entities, as Python transformers' pipeline: simple
(default here: consecutive tokens of one type, split at B- tags), first, average or max (whole
words first, labelled by their first token, the average of their tokens' scores, or their most
confident token), or none (every token, with its own B-/I- label). --json prints a JSON line per text.`

  static examples = [
    '<%= config.bin %> ner -m ./bert-base-NER "My name is Wolfgang and I live in Berlin"',
    '<%= config.bin %> ner -m ./bert-base-NER --aggregation first --file news.txt --json',
  ]

  static strict = false
  static args = { text: Args.string({ description: 'Texts ("-" reads stdin).', required: false }) }

  static flags = {
    ...taskFlags,
    aggregation: Flags.string({
      description: 'How tokens become entities.',
      options: ['none', 'simple', 'first', 'average', 'max'],
      default: 'simple',
    }),
    'ignore-labels': Flags.string({ description: 'Labels to leave out, comma-separated (default O).' }),
  }

  protected rendering = taskRendering

  async run(): Promise<TaskSummary> {
    const { argv, flags } = await this.parse(Ner)
    const s = await settingsFor(['runtime.threads', ...HUB_KEYS])
    return runNer({
      ...taskInput(argv as string[], flags, s),
      hub: hubFromSettings(s),
      aggregation: flags.aggregation as AggregationStrategy,
      ignoreLabels: flags['ignore-labels']?.split(',').map((l) => l.trim()),
    })
  }
}
