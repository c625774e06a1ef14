// kiln config path: where the settings file is.
import { BaseCommand } from '../../base-command.js'
import { configPath } from '../../core/settings/queries.js'

export default class ConfigPath extends BaseCommand {
  static summary = 'Print the settings file path.'
  static description =
    `Prints where kiln reads and writes its settings: $KILN_CONFIG, else $XDG_CONFIG_HOME/kiln/config.yaml, else ~/.config/kiln/config.yaml. The file need not exist yet. With --json: {"path", "exists"}.`

  static examples = ['<%= config.bin %> config path', 'vi "$(<%= config.bin %> config path)"']

  async run(): Promise<void> {
    const { flags } = await this.parse(ConfigPath)
    this.jsonMode = flags.json
    this.writeOut(configPath({ json: flags.json }))
  }
}
