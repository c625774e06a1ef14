// kiln config default: write this machine's detected defaults without asking.
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import type { Rendering } from '../../cli/render.js'
import { detectedDefaults, settingsPath, writeSettings } from '../../cli/settings/index.js'
import { SettingsError } from '../../core/errors.js'

/** What `config default --json` prints. */
interface ConfigDefaultReport {
  path: string
  settings: Record<string, unknown>
}

export default class ConfigDefault extends BaseCommand<ConfigDefaultReport> {
  static summary = "Write a settings file with this machine's defaults, without questions."
  static description =
    `Writes every setting that has a default, with the core count and the device detected on this machine (what pressing Enter through \`kiln config\` gives), for scripts and CI. An existing file is refused unless --yes. With --json: {"path", "settings"}.`

  static examples = ['<%= config.bin %> config default', '<%= config.bin %> config default --yes --json']

  static flags = {
    yes: Flags.boolean({ char: 'y', description: 'Replace an existing settings file.', default: false }),
  }

  protected rendering: Rendering<ConfigDefaultReport> = {
    text: (r, { quiet }) => ({
      err: quiet ? undefined : `wrote ${Object.keys(r.settings).length} settings to ${r.path}\n`,
    }),
  }

  async run(): Promise<ConfigDefaultReport> {
    const { flags } = await this.parse(ConfigDefault)
    const file = settingsPath()
    const values = detectedDefaults(process.env)
    try {
      await writeSettings(file, values, flags.yes)
    } catch (e) {
      if (e instanceof SettingsError && /already exists/.test(e.message))
        throw new SettingsError(`${file} already exists; pass --yes to replace it`)
      throw e
    }
    return { path: file, settings: Object.fromEntries(values) }
  }
}
