// kiln config unset: remove one setting from the settings file.
import { Args } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import type { Rendering } from '../../cli/render.js'
import { editSettings, loadSettings, requireKey, settingsPath } from '../../cli/settings/index.js'

/** What `config unset --json` prints. */
interface ConfigUnsetReport {
  key: string
  removed: boolean
  path: string
}

export default class ConfigUnset extends BaseCommand<ConfigUnsetReport> {
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

  protected rendering: Rendering<ConfigUnsetReport> = {
    text: (r, { quiet }) => ({
      err: quiet ? undefined : `${r.key} ${r.removed ? 'removed from' : 'was not set in'} ${r.path}\n`,
    }),
  }

  async run(): Promise<ConfigUnsetReport> {
    const { args } = await this.parse(ConfigUnset)
    const k = requireKey(args.key)
    const file = settingsPath()
    const before = await loadSettings(file)
    const removed = before.values.has(k.key)
    if (before.exists) await editSettings(file, new Map([[k.key, undefined]]))
    return { key: k.key, removed, path: file }
  }
}
