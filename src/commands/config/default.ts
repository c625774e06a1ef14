// kiln config default: write this machine's detected defaults without asking.
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { SettingsError } from '../../core/errors.js'
import { detectedDefaults, settingsPath, writeSettings } from '../../core/settings/index.js'

export default class ConfigDefault extends BaseCommand {
  static summary = "Write a settings file with this machine's defaults, without questions."
  static description =
    `Writes every setting that has a default, with the core count and the device detected on this machine (what pressing Enter through \`kiln config\` gives), for scripts and CI. An existing file is refused unless --yes. With --json: {"path", "settings"}.`

  static examples = ['<%= config.bin %> config default', '<%= config.bin %> config default --yes --json']

  static flags = {
    yes: Flags.boolean({ char: 'y', description: 'Replace an existing settings file.', default: false }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(ConfigDefault)
    this.jsonMode = flags.json
    const file = settingsPath()
    const values = detectedDefaults(process.env)
    try {
      await writeSettings(file, values, flags.yes)
    } catch (e) {
      if (e instanceof SettingsError && /already exists/.test(e.message))
        throw new SettingsError(`${file} already exists; pass --yes to replace it`)
      throw e
    }
    if (flags.json) this.writeOut(`${JSON.stringify({ path: file, settings: Object.fromEntries(values) })}\n`)
    else if (!flags.quiet) this.writeErr(`wrote ${values.size} settings to ${file}\n`)
  }
}
