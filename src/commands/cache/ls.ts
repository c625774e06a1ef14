// kiln cache ls: the repos in the Hugging Face cache, their revisions and sizes.
import { Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { type CacheLsReport, cacheLsRendering, runCacheLs } from '../../cli/cache.js'
import { hubSettings } from '../../cli/settings/hub-settings.js'

export default class CacheLs extends BaseCommand<CacheLsReport> {
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

  protected rendering = cacheLsRendering

  async run(): Promise<CacheLsReport> {
    const { flags } = await this.parse(CacheLs)
    return runCacheLs(await hubSettings({ cacheDir: flags['cache-dir'] }))
  }
}
