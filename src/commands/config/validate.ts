// kiln config validate: check a settings file without using it.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import type { Rendering } from '../../cli/render.js'
import { loadSettingsDocument, settingsPath } from '../../cli/settings/index.js'
import { SettingsError } from '../../core/errors.js'

/** What `config validate --json` prints (an invalid file is an error). */
interface ConfigValidateReport {
  path: string
  valid: true
  /** How many settings the file sets. */
  settings: number
}

export default class ConfigValidate extends BaseCommand<ConfigValidateReport> {
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

  protected rendering: Rendering<ConfigValidateReport> = {
    text: (r) => ({ out: `${r.path}: valid (${r.settings} setting${r.settings === 1 ? '' : 's'})\n` }),
  }

  async run(): Promise<ConfigValidateReport> {
    const { args } = await this.parse(ConfigValidate)
    const file = args.file ? path.resolve(args.file) : settingsPath()
    if (!existsSync(file)) throw new SettingsError(`${file}: no such settings file`)
    const { values } = await loadSettingsDocument(file)
    return { path: file, valid: true, settings: values.size }
  }
}
