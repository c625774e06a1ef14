// What a download reports as it goes; core never prints, the command renders these (progress.ts).
export interface PlannedFile {
  path: string
  size: number
  /** False when the blob is already in the cache (or the local file is current). */
  fetch: boolean
}

export type DownloadEvent =
  | {
      type: 'plan'
      repo: string
      commit: string
      files: PlannedFile[]
      totalBytes: number
      fetchBytes: number
    }
  | { type: 'file-start'; path: string; size: number; resumedFrom: number }
  | { type: 'file-progress'; path: string; size: number; have: number }
  | { type: 'file-retry'; path: string; attempt: number; reason: string; delayMs: number }
  | { type: 'file-wait'; path: string }
  | { type: 'file-done'; path: string; size: number; downloaded: boolean }
  | { type: 'done'; bytesDownloaded: number; seconds: number }

export type DownloadListener = (ev: DownloadEvent) => void
