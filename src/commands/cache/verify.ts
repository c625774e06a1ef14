// kiln cache verify: re-hash the blobs of the Hugging Face cache and report any that differ.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../../base-command.js'
import { runCacheVerify } from '../../core/hub/cache-commands.js'
import { hubSettings } from '../../core/settings/hub-settings.js'

export default class CacheVerify extends BaseCommand {
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

  async run(): Promise<void> {
    const { args, flags } = await this.parse(CacheVerify)
    this.jsonMode = flags.json
    await runCacheVerify(
      {
        repo: args.repo,
        repoType: flags['repo-type'] as 'model' | 'dataset',
        hub: await hubSettings({ cacheDir: flags['cache-dir'] }),
        json: flags.json,
        quiet: flags.quiet,
      },
      { out: (s) => this.writeOut(s), err: (s) => this.writeErr(s) },
    )
  }
}
