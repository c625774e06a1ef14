// kiln download: a Hub repo (or some of its files) into the Hugging Face cache, shared with Python.
import { Args, Flags } from '@oclif/core'
import { BaseCommand } from '../cli/base-command.js'
import { type DownloadReport, downloadRendering, runDownload } from '../cli/download.js'
import { hubSettings } from '../cli/settings/hub-settings.js'

export default class Download extends BaseCommand<DownloadReport> {
  static summary = 'Download a model or dataset from the Hugging Face Hub into the shared cache.'
  static description =
    `Fetches REPO (org/name, or org/name@revision) at a branch, tag or commit into the Hugging Face cache that Python's huggingface_hub uses (HF_HUB_CACHE, default ~/.cache/huggingface/hub), byte for byte in its layout, and prints the snapshot folder. Files already in the cache are not fetched again. Files are fetched in parallel (--max-workers); a dropped or stalled transfer is resumed with Range, an interrupted run resumes from its partial files, and every file is checked against its sha256 (LFS) or git hash before it appears in the snapshot. Give FILES to fetch only those, or filter with --include/--exclude globs. HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_TOKEN and HF_HUB_OFFLINE are read as Python reads them.`

  static examples = [
    '<%= config.bin %> download Qwen/Qwen2.5-0.5B-Instruct',
    '<%= config.bin %> download meta-llama/Llama-3.2-1B-Instruct --include "*.json" --include "*.safetensors"',
    '<%= config.bin %> download openai-community/gpt2@main config.json tokenizer.json --quiet',
    '<%= config.bin %> download HuggingFaceTB/SmolLM2-135M --local-dir ./smollm --max-workers 4',
    '<%= config.bin %> download HuggingFaceTB/SmolLM2-135M --dry-run',
    '<%= config.bin %> download karpathy/tinyshakespeare --repo-type dataset --json',
    'HF_HUB_OFFLINE=1 <%= config.bin %> download Qwen/Qwen2.5-0.5B-Instruct --quiet',
  ]

  static strict = false
  static usage = '<%= command.id %> REPO[@REVISION] [FILES...] [FLAGS]'

  static args = {
    repo: Args.string({ description: 'Repo id: org/name or org/name@revision.', required: true }),
    files: Args.string({ description: 'Paths in the repo to fetch (default: all files).', required: false }),
  }

  static flags = {
    revision: Flags.string({ description: 'Branch, tag or commit (default: main).' }),
    'repo-type': Flags.string({
      description: 'Kind of repo.',
      options: ['model', 'dataset'],
      default: 'model',
    }),
    include: Flags.string({ description: 'Only paths matching this glob (repeatable).', multiple: true }),
    exclude: Flags.string({ description: 'Skip paths matching this glob (repeatable).', multiple: true }),
    'cache-dir': Flags.string({ description: 'Hub cache folder (default: HF_HUB_CACHE or $HF_HOME/hub).' }),
    'local-dir': Flags.string({ description: 'Write real files into this folder instead of the cache.' }),
    token: Flags.string({ description: 'Hugging Face token (default: HF_TOKEN, else $HF_HOME/token).' }),
    'max-workers': Flags.integer({ description: 'Files fetched at once.', default: 8, min: 1 }),
    force: Flags.boolean({ description: 'Fetch again even what the cache already holds.', default: false }),
    'dry-run': Flags.boolean({
      description: 'List the files, sizes and what would be fetched.',
      default: false,
    }),
    offline: Flags.boolean({
      description: 'Answer from the cache alone (as HF_HUB_OFFLINE=1).',
      default: false,
    }),
  }

  protected rendering = downloadRendering

  async run(): Promise<DownloadReport> {
    const { args, argv, flags } = await this.parse(Download)
    return runDownload({
      repo: args.repo,
      files: (argv as string[]).slice(1),
      revision: flags.revision,
      repoType: flags['repo-type'] as 'model' | 'dataset',
      include: flags.include,
      exclude: flags.exclude,
      localDir: flags['local-dir'],
      maxWorkers: flags['max-workers'],
      force: flags.force,
      dryRun: flags['dry-run'],
      hub: await hubSettings({
        cacheDir: flags['cache-dir'],
        token: flags.token,
        offline: flags.offline ? true : undefined,
      }),
      quiet: flags.quiet,
    })
  }
}
