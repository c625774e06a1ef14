// kiln config: the interactive settings wizard (on a terminal), and the topic of config get/set/….
import { BaseCommand } from '../../cli/base-command.js'
import { cliIo } from '../../cli/io.js'
import type { Rendering } from '../../cli/render.js'
import {
  detectedDefaults,
  editSettings,
  loadSettingsDocument,
  settingsPath,
  settingTypes,
} from '../../cli/settings/index.js'
import { UsageError } from '../../core/errors.js'

/** What the wizard did (it refuses --json: a terminal is for people). */
interface WizardReport {
  path: string
  written: boolean
}

export default class Config extends BaseCommand<WizardReport> {
  static summary = 'Set up kiln interactively (a wizard), or manage settings with config get/set/list/….'
  static description =
    `On a terminal, asks for each setting in turn — arrow keys for choices, typed values checked as you go, secrets hidden — proposing this machine's defaults (its core count, CUDA when this build can use it) or the values already in the file, so Enter throughout gives a valid file. A summary and a confirmation come before the settings file is written (atomically). Not on a terminal, use \`kiln config set\`, \`kiln config default --yes\` and the other subcommands instead.`

  static examples = [
    '<%= config.bin %> config',
    '<%= config.bin %> config default --yes',
    '<%= config.bin %> config set runtime.threads 4',
    '<%= config.bin %> config list --sources',
  ]

  protected rendering: Rendering<WizardReport> = {
    text: (r, { quiet }) => ({
      err: quiet ? undefined : r.written ? `wrote ${r.path}\n` : 'kiln config: cancelled, nothing written\n',
    }),
  }

  async run(): Promise<WizardReport> {
    const { flags } = await this.parse(Config)
    const io = cliIo()
    if (!io.stdin.isTTY || !io.stdout.isTTY || flags.json)
      throw new UsageError(
        'the settings wizard needs a terminal; in scripts use `kiln config set KEY VALUE`, ' +
          '`kiln config default --yes`, `kiln config get|unset|list|validate` (see `kiln config --help`)',
      )
    const file = settingsPath()
    const current = await loadSettingsDocument(file)
    const types = await settingTypes()
    // The file's values first; this machine's defaults for what it does not set.
    const initial = new Map([...detectedDefaults(process.env), ...current.values])
    const { runWizard } = await import('../../cli/config-wizard/run.js')
    const result = await runWizard({
      keys: [...types.keys.values()],
      initial,
      path: file,
      exists: current.exists,
      color: this.colorEnabled(),
    })
    if (!result.confirmed) return { path: file, written: false }
    // Every key is written or removed, keeping the file's comments.
    await editSettings(file, new Map([...types.keys.keys()].map((key) => [key, result.answers.get(key)])))
    return { path: file, written: true }
  }
}
