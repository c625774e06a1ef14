// Types for hub-server.mjs (plain JS so that the bench, which runs without a TypeScript step, can use it).
export interface RepoFileSpec {
  path: string
  content?: Buffer | string
  lfs?: boolean
  /** A payload on disk, streamed. */
  file?: string
  size?: number
  sha256?: string
}

export interface LoggedRequest {
  server: 'hub' | 'cdn'
  method: string
  path: string
  query: string
  headers: Record<string, string | string[] | undefined>
  /** performance.now() at the request and when its answer closed (file server only). */
  start?: number
  end?: number
}

export interface HubServer {
  endpoint: string
  cdnUrl: string
  log: LoggedRequest[]
  addRepo(repo: {
    name: string
    type?: 'model' | 'dataset'
    files: RepoFileSpec[]
    gated?: string
    ref?: string
    extraRefs?: string[]
  }): string
  rename(from: string, to: string): void
  fault(path: string, kind: 'drop' | 'stall' | 'corrupt', after: number, times?: number): void
  clearFaults(): void
  setRate(bytesPerSecond: number): void
  close(): Promise<void>
}

export function startHubServer(opts?: {
  pageSize?: number
  rate?: number
  /** Serve HTTPS with this key and certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer }
}): Promise<HubServer>
export function gitBlobSha1(buf: Buffer): string
export function sha256(buf: Buffer): string
export function randomBytesSeeded(n: number, seed?: number): Buffer
