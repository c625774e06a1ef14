// kiln config set: validate one value and write it to the settings file.
import { Args } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import {
  editSettings,
  parseText,
  redact,
  requireKey,
  settingsPath,
  typedKey,
} from '../../core/settings/index.js'

export default class ConfigSet extends BaseCommand {
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

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ConfigSet)
    this.jsonMode = flags.json
    requireKey(args.key)
    const k = await typedKey(args.key)
    const value = parseText(k, args.value)
    const file = settingsPath()
    await editSettings(file, new Map([[k.key, value]]))
    const shown = k.secret ? redact(String(value)) : value
    if (flags.json) this.writeOut(`${JSON.stringify({ key: k.key, value: shown, path: file })}\n`)
    else if (!flags.quiet) this.writeErr(`${k.key} = ${String(shown)} (${file})\n`)
  }
}
