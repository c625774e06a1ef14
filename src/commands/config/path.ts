// kiln config path: where the settings file is.
import { BaseCommand } from '../../cli/base-command.js'
import { type ConfigPathReport, configPath, configPathRendering } from '../../cli/settings/queries.js'

export default class ConfigPath extends BaseCommand<ConfigPathReport> {
  static summary = 'Print the settings file path.'
  static description =
    `Prints where kiln reads and writes its settings: $KILN_CONFIG, else $XDG_CONFIG_HOME/kiln/config.yaml, else ~/.config/kiln/config.yaml. The file need not exist yet. With --json: {"path", "exists"}.`

  static examples = ['<%= config.bin %> config path', 'vi "$(<%= config.bin %> config path)"']

  protected rendering = configPathRendering

  async run(): Promise<ConfigPathReport> {
    await this.parse(ConfigPath)
    return configPath()
  }
}
