// kiln config get: one setting's value as kiln would use it (flag > env > file > default).
import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { type ConfigGetReport, configGet, configGetRendering } from '../../cli/settings/queries.js'

export default class ConfigGet extends BaseCommand<ConfigGetReport> {
  static summary = 'Print the value kiln uses for one setting.'
  static description =
    `Prints KEY's value after the environment (KILN_<SECTION>_<KEY>, and HF_TOKEN, HF_ENDPOINT, HF_HUB_CACHE, HF_HUB_OFFLINE where they apply), the settings file and the built-in default are considered, in that order. Prints nothing when no source gives a value. Secrets are redacted. With --json: {"key", "value", "source", "from"}. Keys: \`kiln config list --sources\`.`

  static examples = [
    '<%= config.bin %> config get runtime.threads',
    'KILN_GENERATE_TEMPERATURE=0.7 <%= config.bin %> config get generate.temperature --json',
  ]

  static args = {
    key: Args.string({ description: 'Dotted setting name, e.g. runtime.threads.', required: true }),
  }

  protected rendering = configGetRendering

  async run(): Promise<ConfigGetReport> {
    const { args } = await this.parse(ConfigGet)
    return configGet(args.key)
  }
}
