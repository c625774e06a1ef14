// kiln classify: labels for texts from a sequence classifier, or zero-shot (--labels) from an NLI model.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { runClassify } from '../cli/tasks/classify.js'
import { type TaskSummary, taskRendering } from '../cli/tasks/run-task.js'
import { taskFlags, taskInput } from '../cli/tasks/task-flags.js'

export default class Classify extends BaseCommand<TaskSummary> {
  static summary = 'Classify texts with a text classifier (or zero-shot with --labels and an NLI model).'
  static description =
    `Runs a …ForSequenceClassification model (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) from a folder or
a repo id on each TEXT, each line of --file (JSONL with a "text" field when it ends in .jsonl), or
each line of stdin ("-"). Prints a line per text: the label and its score, tab-separated (--top-k:
the k best, in order). Scores are softmax over the labels, or sigmoid for multi-label models
(problem_type) and with --multi-label. With --labels a,b,c the model must be an NLI model
(an "entailment" label): each label is scored as the hypothesis "This example is {label}."
(--hypothesis-template). --json prints a JSON line per text. Texts stream in batches: a long file
is never held in memory, and a terminal shows progress.`

  static examples = [
    '<%= config.bin %> classify -m ./distilbert-sst2 "I loved it" "Terrible service"',
    '<%= config.bin %> classify -m ./toxic-bert --multi-label --file comments.txt --json',
    '<%= config.bin %> classify -m ./nli-roberta --labels sports,politics,tech "The match went to penalties"',
  ]

  static strict = false
  static args = {
    text: Args.string({ description: 'Texts to classify ("-" reads stdin).', required: false }),
  }

  static flags = {
    ...taskFlags,
    'top-k': Flags.integer({ description: 'Labels per text, best first (default 1).', min: 1 }),
    'multi-label': Flags.boolean({
      description: 'Score each label on its own (sigmoid; zero-shot: per label).',
      default: false,
    }),
    labels: Flags.string({
      description: 'Zero-shot: candidate labels, comma-separated (needs an NLI model).',
    }),
    'hypothesis-template': Flags.string({ description: 'Zero-shot hypothesis, {} where the label goes.' }),
  }

  protected rendering = taskRendering

  async run(): Promise<TaskSummary> {
    const { argv, flags } = await this.parse(Classify)
    const s = await settingsFor(['runtime.threads', ...HUB_KEYS])
    return runClassify({
      ...taskInput(argv as string[], flags, s),
      hub: hubFromSettings(s),
      topK: flags['top-k'],
      multiLabel: flags['multi-label'],
      labels: flags.labels
        ?.split(',')
        .map((l) => l.trim())
        .filter((l) => l !== ''),
      hypothesisTemplate: flags['hypothesis-template'],
    })
  }
}
