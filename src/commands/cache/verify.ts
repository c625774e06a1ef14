// kiln cache verify: re-hash the blobs of the Hugging Face cache and report any that differ.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../cli/base-command.js'
import { type CacheVerifyReport, cacheVerifyRendering, runCacheVerify } from '../../cli/cache.js'
import { hubSettings } from '../../cli/settings/hub-settings.js'

export default class CacheVerify extends BaseCommand<CacheVerifyReport> {
  static summary = 'Re-hash cached blobs and report any whose content differs from its name.'
  static description =
    `Every blob is named by its content: the sha256 of an LFS file, the git blob sha1 of a small one. This re-hashes each blob (of REPO, or of the whole cache) and checks that every snapshot link leads to a blob. Problems are listed and the exit status is 1; fetch again with \`kiln download REPO --force\`.`

  static examples = [
    '<%= config.bin %> cache verify',
    '<%= config.bin %> cache verify Qwen/Qwen2.5-0.5B-Instruct',
    '<%= config.bin %> cache verify --json',
  ]

  static args = {
    repo: Args.string({ description: 'Only this repo (org/name).', required: false }),
  }

  static flags = {
    'repo-type': Flags.string({
      description: 'Kind of repo.',
      options: ['model', 'dataset'],
      default: 'model',
    }),
    'cache-dir': Flags.string({ description: 'Hub cache folder (default: HF_HUB_CACHE or $HF_HOME/hub).' }),
  }

  protected rendering = cacheVerifyRendering

  async run(): Promise<CacheVerifyReport> {
    const { args, flags } = await this.parse(CacheVerify)
    const hub = await hubSettings({ cacheDir: flags['cache-dir'] })
    return runCacheVerify(hub, args.repo, flags['repo-type'] as 'model' | 'dataset')
  }
}
