// What `kiln download` does between parsing flags and printing: run the download with a progress
// renderer on stderr and return what it fetched (render.ts prints the path, the dry-run plan or JSON).
import type { HubOptions } from '../core/hub/config.js'
import { type DownloadResult, downloadRepo } from '../core/hub/download.js'
import type { RepoType } from '../core/hub/repo-id.js'
import { downloadProgress, formatBytes } from './progress/download-progress.js'
import type { Rendering } from './render.js'

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
  hub: HubOptions
  quiet: boolean
}

/** What `kiln download --json` prints. */
export interface DownloadReport {
  path: string
  commit: string
  files: { path: string; size: number; downloaded: boolean }[]
  bytes_downloaded: number
  dry_run?: true
}

export function downloadReport(r: DownloadResult): DownloadReport {
  return {
    path: r.path,
    commit: r.commit,
    files: r.files.map((f) => ({ path: f.path, size: f.size, downloaded: f.downloaded })),
    bytes_downloaded: r.bytesDownloaded,
    ...(r.dryRun ? { dry_run: true as const } : {}),
  }
}

export async function runDownload(input: DownloadInput): Promise<DownloadReport> {
  const { quiet, dryRun, ...request } = input
  // A dry run fetches nothing, so there is nothing to show progress of.
  const progress = downloadProgress({ quiet: quiet || dryRun })
  try {
    return downloadReport(await downloadRepo({ ...request, dryRun }, progress.onEvent))
  } finally {
    progress.stop()
  }
}

export const downloadRendering: Rendering<DownloadReport> = {
  text(r, { quiet }) {
    if (!r.dry_run || quiet) return { out: `${r.path}\n` }
    const w = Math.max(4, ...r.files.map((f) => f.path.length))
    let out = `${'FILE'.padEnd(w)}  ${'SIZE'.padStart(10)}  ACTION\n`
    for (const f of r.files)
      out += `${f.path.padEnd(w)}  ${formatBytes(f.size).padStart(10)}  ${f.downloaded ? 'fetch' : 'cached'}\n`
    const n = r.files.filter((f) => f.downloaded).length
    out += `${n} of ${r.files.length} files to fetch, ${formatBytes(r.bytes_downloaded)} (commit ${r.commit})\n`
    return { out }
  },
}
