// What `kiln download` does between parsing flags and printing: run the download with a progress
// renderer on stderr, then print the snapshot path (or one JSON object, or the dry-run plan).
import type { HubSettings, Output } from '../generate-command.js'
import { type DownloadResult, downloadRepo } from './download.js'
import { createProgressRenderer, formatBytes, pickProgressMode } from './progress.js'
import type { RepoType } from './repo-id.js'

export interface DownloadInput {
  repo: string
  files: string[]
  revision?: string
  repoType: RepoType
  include?: string[]
  exclude?: string[]
  localDir?: string
  maxWorkers: number
  force: boolean
  dryRun: boolean
  hub: HubSettings
  json: boolean
  quiet: boolean
}

export function downloadJson(r: DownloadResult): Record<string, unknown> {
  return {
    path: r.path,
    commit: r.commit,
    files: r.files.map((f) => ({ path: f.path, size: f.size, downloaded: f.downloaded })),
    bytes_downloaded: r.bytesDownloaded,
    ...(r.dryRun ? { dry_run: true } : {}),
  }
}

export async function runDownload(input: DownloadInput, io: Output): Promise<void> {
  const mode = input.dryRun ? 'none' : pickProgressMode(process.stderr, input)
  const progress = createProgressRenderer(mode, mode === 'tty' ? process.stderr : { write: (t) => io.err(t) })
  let result: DownloadResult
  try {
    result = await downloadRepo(
      {
        repo: input.repo,
        files: input.files,
        revision: input.revision,
        repoType: input.repoType,
        include: input.include,
        exclude: input.exclude,
        localDir: input.localDir,
        maxWorkers: input.maxWorkers,
        force: input.force,
        dryRun: input.dryRun,
        hub: input.hub,
      },
      progress.onEvent,
    )
  } finally {
    progress.stop()
  }
  if (input.json) {
    io.out(`${JSON.stringify(downloadJson(result))}\n`)
    return
  }
  if (input.dryRun && !input.quiet) {
    const w = Math.max(4, ...result.files.map((f) => f.path.length))
    io.out(`${'FILE'.padEnd(w)}  ${'SIZE'.padStart(10)}  ACTION\n`)
    for (const f of result.files)
      io.out(
        `${f.path.padEnd(w)}  ${formatBytes(f.size).padStart(10)}  ${f.downloaded ? 'fetch' : 'cached'}\n`,
      )
    const n = result.files.filter((f) => f.downloaded).length
    io.out(
      `${n} of ${result.files.length} files to fetch, ${formatBytes(result.bytesDownloaded)} (commit ${result.commit})\n`,
    )
    return
  }
  io.out(`${result.path}\n`)
}
