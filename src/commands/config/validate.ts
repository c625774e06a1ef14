// kiln config validate: check a settings file without using it.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { Args } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { SettingsError } from '../../core/errors.js'
import { loadSettingsDocument, settingsPath } from '../../core/settings/index.js'

export default class ConfigValidate extends BaseCommand {
  static summary = 'Check a settings file: syntax, keys, values.'
  static description =
    `Checks FILE (default: the settings file) and reports the first problem as one line with the file's path and line: YAML syntax, an unknown key (with the nearest one), a value outside what the key allows, a missing or unknown version. Exit 0 when valid, 1 when not. With --json: {"path", "valid", "settings"} (the number of settings it sets).`

  static examples = [
    '<%= config.bin %> config validate',
    '<%= config.bin %> config validate ./ci/kiln.yaml --json',
  ]

  static args = {
    file: Args.string({
      description: 'Settings file to check (default: the settings file).',
      required: false,
    }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ConfigValidate)
    this.jsonMode = flags.json
    const file = args.file ? path.resolve(args.file) : settingsPath()
    if (!existsSync(file)) throw new SettingsError(`${file}: no such settings file`)
    const { values } = await loadSettingsDocument(file)
    if (flags.json) this.writeOut(`${JSON.stringify({ path: file, valid: true, settings: values.size })}\n`)
    else this.writeOut(`${file}: valid (${values.size} setting${values.size === 1 ? '' : 's'})\n`)
  }
}
