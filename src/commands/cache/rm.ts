// kiln cache rm: a repo, or one of its revisions, out of the Hugging Face cache.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { type CacheRmReport, cacheRmRendering, runCacheRm } from '../../cli/cache.js'
import { hubSettings } from '../../cli/settings/hub-settings.js'

export default class CacheRm extends BaseCommand<CacheRmReport> {
  static summary = 'Remove a repo, or one revision of it, from the Hugging Face cache.'
  static description =
    `REPO removes the whole repo folder. REPO@rev (a branch, tag or commit) removes that snapshot, the refs naming it, and the blobs no other cached revision uses.`

  static examples = [
    '<%= config.bin %> cache rm Qwen/Qwen2.5-0.5B-Instruct',
    '<%= config.bin %> cache rm openai-community/gpt2@607a30d783dfa663caf39e06633721c8d4cfcd7e --json',
    '<%= config.bin %> cache rm karpathy/tinyshakespeare --repo-type dataset',
  ]

  static args = {
    repo: Args.string({ description: 'org/name or org/name@revision.', required: true }),
  }

  static flags = {
    'repo-type': Flags.string({
      description: 'Kind of repo.',
      options: ['model', 'dataset'],
      default: 'model',
    }),
    'cache-dir': Flags.string({ description: 'Hub cache folder (default: HF_HUB_CACHE or $HF_HOME/hub).' }),
  }

  protected rendering = cacheRmRendering

  async run(): Promise<CacheRmReport> {
    const { args, flags } = await this.parse(CacheRm)
    const hub = await hubSettings({ cacheDir: flags['cache-dir'] })
    return runCacheRm(hub, args.repo, flags['repo-type'] as 'model' | 'dataset')
  }
}
