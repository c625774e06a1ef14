// kiln config set: validate one value and write it to the settings file.
import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import type { Rendering } from '../../cli/render.js'
import {
  editSettings,
  parseText,
  redact,
  requireKey,
  settingsPath,
  typedKey,
} from '../../cli/settings/index.js'

/** What `config set --json` prints. */
interface ConfigSetReport {
  key: string
  value: unknown
  path: string
}

export default class ConfigSet extends BaseCommand<ConfigSetReport> {
  static summary = 'Set one setting in the settings file.'
  static description =
    `Checks VALUE against the setting's type (an unknown key or a bad value is refused with what is allowed, and the file is left as it was), then writes it to the settings file atomically, keeping its comments and other keys. Safe to run concurrently. Prints nothing on stdout; with --json: {"key", "value", "path"} (secrets redacted).`

  static examples = [
    '<%= config.bin %> config set runtime.threads 8',
    '<%= config.bin %> config set generate.model ./Qwen2-0.5B-Instruct',
    '<%= config.bin %> config set hub.token "$HF_TOKEN"',
  ]

  static args = {
    key: Args.string({ description: 'Dotted setting name, e.g. runtime.threads.', required: true }),
    value: Args.string({ description: 'The new value.', required: true }),
  }

  protected rendering: Rendering<ConfigSetReport> = {
    text: (r, { quiet }) => ({ err: quiet ? undefined : `${r.key} = ${String(r.value)} (${r.path})\n` }),
  }

  async run(): Promise<ConfigSetReport> {
    const { args } = await this.parse(ConfigSet)
    requireKey(args.key)
    const k = await typedKey(args.key)
    const value = parseText(k, args.value)
    const file = settingsPath()
    await editSettings(file, new Map([[k.key, value]]))
    return { key: k.key, value: k.secret ? redact(String(value)) : value, path: file }
  }
}
