// kiln cache ls: the repos in the Hugging Face cache, their revisions and sizes.
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { runCacheLs } from '../../core/hub/cache-commands.js'
import { hubSettings } from '../../core/settings/hub-settings.js'

export default class CacheLs extends BaseCommand {
  static summary = 'List the repos in the Hugging Face cache, with revisions and sizes.'
  static description =
    `Reads the cache folder (HF_HUB_CACHE, default ~/.cache/huggingface/hub) — what kiln and Python's huggingface_hub downloaded alike — and lists each repo with its size on disk and its cached revisions (commit, the refs naming it, file count). Partial downloads waiting to be resumed are shown.`

  static examples = [
    '<%= config.bin %> cache ls',
    '<%= config.bin %> cache ls --json',
    '<%= config.bin %> cache ls --cache-dir /data/hf',
  ]

  static flags = {
    'cache-dir': Flags.string({ description: 'Hub cache folder (default: HF_HUB_CACHE or $HF_HOME/hub).' }),
  }

  async run(): Promise<void> {
    const { flags } = await this.parse(CacheLs)
    this.jsonMode = flags.json
    await runCacheLs(
      { hub: await hubSettings({ cacheDir: flags['cache-dir'] }), json: flags.json, quiet: flags.quiet },
      { out: (s) => this.writeOut(s), err: (s) => this.writeErr(s) },
    )
  }
}
