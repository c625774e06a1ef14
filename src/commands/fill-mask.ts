// kiln fill-mask: the likeliest tokens for a masked language model's mask token.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { settingsFor } from '../cli/settings/for-command.js'
import { HUB_KEYS, hubFromSettings } from '../cli/settings/hub-settings.js'
import { runFillMask } from '../cli/tasks/fill-mask.js'
import { type TaskSummary, taskRendering } from '../cli/tasks/run-task.js'
import { taskFlags, taskInput } from '../cli/tasks/task-flags.js'

export default class FillMask extends BaseCommand<TaskSummary> {
  static summary = 'Fill the mask token of texts with a masked language model.'
  static description =
    `Runs a …ForMaskedLM model (BERT, RoBERTa, XLM-RoBERTa, DistilBERT) on each TEXT, line of --file or line
of stdin; each text holds the model's mask token ([MASK] for BERT, <mask> for RoBERTa). Prints a
line per candidate: its probability, the token, and the text with it filled in; a blank line ends
each text (and each mask, when a text has several). --targets limits the candidates. --json prints
a JSON line per text.`

  static examples = [
    '<%= config.bin %> fill-mask -m ./bert-base-uncased "Paris is the [MASK] of France."',
    '<%= config.bin %> fill-mask -m ./roberta-base "The goal of life is <mask>." --top-k 3 --json',
  ]

  static strict = false
  static args = {
    text: Args.string({ description: 'Texts with a mask token ("-" reads stdin).', required: false }),
  }

  static flags = {
    ...taskFlags,
    'top-k': Flags.integer({ description: 'Candidates per mask (default 5).', min: 1 }),
    targets: Flags.string({ description: 'Only these candidates, comma-separated.' }),
  }

  protected rendering = taskRendering

  async run(): Promise<TaskSummary> {
    const { argv, flags } = await this.parse(FillMask)
    const s = await settingsFor(['runtime.threads', ...HUB_KEYS])
    return runFillMask({
      ...taskInput(argv as string[], flags, s),
      hub: hubFromSettings(s),
      topK: flags['top-k'],
      targets: flags.targets?.split(',').map((t) => t.trim()),
    })
  }
}
