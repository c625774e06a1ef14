// What a download reports as it goes; core never prints, a front end renders these (the CLI:
// src/cli/progress/download-progress.ts).
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
  /**
   * Something the user should know that did not stop the work (e.g. a cached copy used offline).
   * `template` is the message with its option() marks, for a front end's renderOptions.
   */
  | { type: 'warning'; message: string; template: string }

export type DownloadListener = (ev: DownloadEvent) => void
