// kiln config unset: remove one setting from the settings file.
import { Args } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { editSettings, loadSettings, requireKey, settingsPath } from '../../core/settings/index.js'

export default class ConfigUnset extends BaseCommand {
  static summary = 'Remove one setting from the settings file.'
  static description =
    `Removes KEY from the settings file (atomically, keeping comments and other keys), so the environment or the built-in default decide again. A key that is not in the file is not an error. With --json: {"key", "removed", "path"}.`

  static examples = [
    '<%= config.bin %> config unset generate.model',
    '<%= config.bin %> config unset hub.token --json',
  ]

  static args = {
    key: Args.string({ description: 'Dotted setting name, e.g. runtime.threads.', required: true }),
  }

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ConfigUnset)
    this.jsonMode = flags.json
    const k = requireKey(args.key)
    const file = settingsPath()
    const before = await loadSettings(file)
    const removed = before.values.has(k.key)
    if (before.exists) await editSettings(file, new Map([[k.key, undefined]]))
    if (flags.json) this.writeOut(`${JSON.stringify({ key: k.key, removed, path: file })}\n`)
    else if (!flags.quiet) this.writeErr(`${k.key} ${removed ? 'removed from' : 'was not set in'} ${file}\n`)
  }
}
