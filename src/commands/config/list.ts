// kiln config list: every setting's value, and with --sources where each comes from.
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { type ConfigListReport, configList, configListRendering } from '../../cli/settings/queries.js'

export default class ConfigList extends BaseCommand<ConfigListReport> {
  static summary = 'List the settings kiln uses, and where each value comes from.'
  static description =
    `Lists every setting that has a value as "key = value" (secrets redacted). With --sources, every setting, its value ("-" when none) and its source: env (and the variable), file (and its path), default, or unset. With --json: {"path", "exists", "settings": {key: value}}, or with --sources {key: {"value", "source", "from"}}.`

  static examples = [
    '<%= config.bin %> config list',
    '<%= config.bin %> config list --sources',
    '<%= config.bin %> config list --json --sources',
  ]

  static flags = {
    sources: Flags.boolean({ description: 'Show where each value comes from.', default: false }),
  }

  protected rendering = configListRendering

  async run(): Promise<ConfigListReport> {
    const { flags } = await this.parse(ConfigList)
    return configList(flags.sources)
  }
}
