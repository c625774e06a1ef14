// kiln config: the interactive settings wizard (on a terminal), and the topic of config get/set/….
import { BaseCommand } from '../../base-command.js'
import { UsageError } from '../../core/errors.js'
import {
  detectedDefaults,
  editSettings,
  loadSettingsDocument,
  settingsPath,
  settingTypes,
} from '../../core/settings/index.js'

export default class Config extends BaseCommand {
  static summary = 'Set up kiln interactively (a wizard), or manage settings with config get/set/list/….'
  static description =
    `On a terminal, asks for each setting in turn — arrow keys for choices, typed values checked as you go, secrets hidden — proposing this machine's defaults (its core count, CUDA when this build can use it) or the values already in the file, so Enter throughout gives a valid file. A summary and a confirmation come before the settings file is written (atomically). Not on a terminal, use \`kiln config set\`, \`kiln config default --yes\` and the other subcommands instead.`

  static examples = [
    '<%= config.bin %> config',
    '<%= config.bin %> config default --yes',
    '<%= config.bin %> config set runtime.threads 4',
    '<%= config.bin %> config list --sources',
  ]

  async run(): Promise<void> {
    const { flags } = await this.parse(Config)
    this.jsonMode = flags.json
    if (!process.stdin.isTTY || !process.stdout.isTTY || flags.json)
      throw new UsageError(
        'the settings wizard needs a terminal; in scripts use `kiln config set KEY VALUE`, ' +
          '`kiln config default --yes`, `kiln config get|unset|list|validate` (see `kiln config --help`)',
      )
    const file = settingsPath()
    const current = await loadSettingsDocument(file)
    const types = await settingTypes()
    // The file's values first; this machine's defaults for what it does not set.
    const initial = new Map([...detectedDefaults(process.env), ...current.values])
    const { runWizard } = await import('../../core/config-wizard/run.js')
    const result = await runWizard({
      keys: [...types.keys.values()],
      initial,
      path: file,
      exists: current.exists,
      color: this.colorEnabled(),
    })
    if (!result.confirmed) {
      if (!flags.quiet) this.writeErr('kiln config: cancelled, nothing written\n')
      return
    }
    // Every key is written or removed, keeping the file's comments.
    await editSettings(file, new Map([...types.keys.keys()].map((key) => [key, result.answers.get(key)])))
    if (!flags.quiet) this.writeErr(`wrote ${file}\n`)
  }
}
