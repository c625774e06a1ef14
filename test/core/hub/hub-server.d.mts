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

/** What a route would answer, as the answer hook sees it (`route` names the API that answers). */
export interface HookedRequest {
  server: 'hub' | 'cdn'
  route: 'revision' | 'tree' | 'paths-info' | 'resolve' | 'blob' | 'none'
  method: string
  path: string
  query: string
  /** The two base URLs, for answers that point at either. */
  hub: string
  cdn: string
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
}

/** The answer to send instead, and how (written straight onto the socket, which is then closed). */
export interface HookedAnswer {
  status: number
  statusText?: string
  /** As given: no Content-Length is added when one is here (a lie stays a lie). */
  headers: Record<string, string | string[]>
  body?: Buffer
  /** Wait this long before the status line. */
  delayMs?: number
  /** Send only this many bytes after the headers, then close. */
  truncateAt?: number
  /** Bytes sent after the body (past its Content-Length). */
  extra?: Buffer
  /** Chunked transfer encoding, with this chunk size announced (default: the true one). */
  chunked?: boolean
  chunkSize?: number
  /** Send the rest `dripBytes` (default 1) at a time, `dripMs` apart. */
  dripMs?: number
  dripBytes?: number
  /** Keep the connection open, silent, after the bytes (until the client gives up, or 10 s). */
  stall?: boolean
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
  /** Every answer (of both ports) passes through `hook`; what it returns is sent instead. */
  setAnswerHook(
    hook: ((r: HookedRequest) => HookedAnswer | undefined | Promise<HookedAnswer | undefined>) | undefined,
  ): void
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
