// Step 3: one blob from the Hub into `blobs/<etag>.incomplete`, then renamed to `blobs/<etag>` only
// once complete and verified. A partial file (from a dropped connection or a killed process) is
// resumed with `Range`; a transfer that stalls is aborted and resumed; failures without progress are
// retried with exponential backoff, a bounded number of times; the bytes are hashed as they are
// written, and a blob whose sha256 (LFS) or git sha1 differs from its name is deleted.
import { mkdir, open, rename, stat, truncate, unlink } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import path from 'node:path'
import { Writable } from 'node:stream'
import { hashFileInto, hashKindOf, newBlobHash } from './blob-hash.js'
import { diskFullError, HubError, isDiskFull } from './errors.js'
import { hubGet } from './http-get.js'
import { type ErrorContext, withoutSecrets } from './hub-errors-map.js'

export interface BlobJob {
  url: string
  token?: string
  etag: string
  size: number
  /** Path in the repo, for messages. */
  file: string
  incompletePath: string
  finalPath: string
  ctx: ErrorContext
}

export interface BlobFetchOptions {
  stallTimeoutMs: number
  retries: number
  retryBaseMs: number
  onStart?(resumedFrom: number): void
  /** Bytes of the blob now on disk. */
  onProgress?(have: number): void
  onRetry?(attempt: number, reason: string, delayMs: number): void
}

const SYNC_EVERY = 16 << 20
/** An attempt that brings less than this (and does not finish the file) counts as a failure. */
const MIN_PROGRESS = 64 << 10

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Socket-level failures that a new request with Range can get past. */
function asRetryable(e: unknown): HubError | undefined {
  if (e instanceof HubError) return e.retryable ? e : undefined
  const code = (e as NodeJS.ErrnoException)?.code ?? ''
  const msg = (e as Error)?.message ?? String(e)
  if (
    /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|ENETUNREACH|ERR_STREAM_PREMATURE_CLOSE|UND_ERR|HPE_)/.test(
      code,
    ) ||
    msg === 'aborted'
  )
    return new HubError('E_NETWORK', `connection lost (${code || msg})`, true)
  return undefined
}

function unquote(etag: string | string[] | undefined): string | undefined {
  if (typeof etag !== 'string') return undefined
  return etag.replace(/^W\//, '').replace(/"/g, '')
}

/** Bytes a transfer must bring in each stall window (KILN_HUB_STALL_TIMEOUT_MS) not to count as stalled. */
const MIN_WINDOW_BYTES = 1024

/**
 * Streams `res` onto the end of `file`, calling onChunk with each buffer once it is on disk. A body
 * that runs past `maxBytes` fails with `tooLong()` before the excess is written: a server that never
 * stops sending must not fill the disk.
 */
async function writeBody(
  res: IncomingMessage,
  file: string,
  append: boolean,
  stallMs: number,
  maxBytes: number,
  tooLong: () => HubError,
  onChunk: (b: Buffer) => void,
): Promise<void> {
  const fh = await open(file, append ? 'a' : 'w')
  let timer: NodeJS.Timeout | undefined
  let finished = false
  let unsynced = 0
  let received = 0
  // A server that drips a byte now and then is as stuck as one that sends nothing, and resetting
  // the watchdog with each byte would wait for it forever: a window of stallMs that brings less
  // than MIN_WINDOW_BYTES counts as a stall too (curl's --speed-limit). Time spent on the disk
  // (fsync) starts a new window.
  let windowStart = Date.now()
  let windowBytes = 0
  let stopReading: (e: unknown) => void = () => {}
  const arm = () => {
    clearTimeout(timer)
    // A write that completes after the transfer failed must not start a new watchdog.
    if (finished) return
    timer = setTimeout(() => {
      const e = new HubError('E_NETWORK', `transfer stalled (no data for ${stallMs / 1000} s)`, true)
      res.destroy(e)
      stopReading(e) // also when the answer was already gone: never wait forever
    }, stallMs)
  }
  try {
    const sink = new Writable({
      highWaterMark: 4 << 20,
      writev(chunks, cb) {
        arm()
        const bufs = chunks.map((c) => c.chunk as Buffer)
        const total = bufs.reduce((n, b) => n + b.length, 0)
        received += total
        if (received > maxBytes) return cb(tooLong())
        windowBytes += total
        const now = Date.now()
        if (now - windowStart >= stallMs) {
          if (windowBytes < MIN_WINDOW_BYTES)
            return cb(
              new HubError(
                'E_NETWORK',
                `transfer stalled (${windowBytes} bytes in ${((now - windowStart) / 1000).toFixed(1)} s)`,
                true,
              ),
            )
          windowStart = now
          windowBytes = 0
        }
        fh.writev(bufs)
          .then(async ({ bytesWritten }) => {
            // writev may stop short; finish the rest in order.
            if (bytesWritten < total) {
              const rest = Buffer.concat(bufs).subarray(bytesWritten)
              let off = 0
              while (off < rest.length) off += (await fh.write(rest, off)).bytesWritten
            }
            // Flushed as it goes, so the fsync that completes the blob has little left to write
            // (a burst of several files' writeback at the end costs seconds).
            unsynced += total
            if (unsynced >= SYNC_EVERY) {
              unsynced = 0
              await fh.datasync()
              windowStart = Date.now()
              windowBytes = 0
            }
            for (const b of bufs) onChunk(b)
            arm()
            cb()
          })
          .catch(cb)
      },
    })
    arm()
    await new Promise<void>((resolve, reject) => {
      let failure: unknown
      // A broken or stalled connection stops the reading, but what already arrived is good: it is
      // written out before the error is reported, so the resume starts from every byte received.
      stopReading = (e: unknown) => {
        failure ??= e
        res.unpipe(sink)
        if (!sink.writableEnded) sink.end()
      }
      res.on('error', stopReading)
      res.on('close', () => {
        if (!res.complete) stopReading(new HubError('E_NETWORK', 'connection closed early', true))
      })
      sink.on('error', (e) => {
        res.destroy()
        reject(e)
      })
      sink.on('finish', () => (failure === undefined ? resolve() : reject(failure)))
      res.pipe(sink)
      // The answer may have failed while the file was being opened, before these listeners.
      if (res.errored) stopReading(res.errored)
      else if (res.destroyed && !res.complete)
        stopReading(new HubError('E_NETWORK', 'connection closed early', true))
    })
  } finally {
    finished = true
    clearTimeout(timer)
    await fh.close()
  }
}

export async function fetchBlob(
  job: BlobJob,
  opts: BlobFetchOptions,
): Promise<{ fetched: number; resumedFrom: number }> {
  const kind = hashKindOf(job.etag)
  let hash = kind ? newBlobHash(kind, job.size) : undefined
  let have = 0
  await mkdir(path.dirname(job.incompletePath), { recursive: true })
  try {
    const st = await stat(job.incompletePath)
    if (st.size <= job.size) {
      have = st.size
      if (hash && have > 0) await hashFileInto(hash, job.incompletePath, have)
    } else await truncate(job.incompletePath, 0)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
  }
  const resumedFrom = have
  opts.onStart?.(resumedFrom)
  let fetched = 0
  let failures = 0
  let attempt = 0
  let started = have > 0
  try {
    while (have < job.size || !started) {
      started = true
      const before = have
      attempt++
      try {
        const { res, hubHeaders } = await hubGet(job.url, {
          token: job.token,
          headers: have > 0 ? { Range: `bytes=${have}-` } : {},
          timeoutMs: opts.stallTimeoutMs,
          ctx: job.ctx,
        })
        const linked = unquote(hubHeaders['x-linked-etag'])
        if (linked && linked !== job.etag) {
          res.destroy()
          // The header is the server's own text: it may echo the token the request carried.
          const named = withoutSecrets(linked, job.token).slice(0, 100)
          throw new HubError(
            'E_INTEGRITY',
            `${job.file}: the server names its content ${named}, the file list ${job.etag}; run again`,
          )
        }
        let append = have > 0
        if (have > 0 && res.statusCode !== 206) {
          // A 200 to a Range request is the whole file: start over.
          have = 0
          hash = kind ? newBlobHash(kind, job.size) : undefined
          append = false
        } else if (res.statusCode === 206) {
          const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))
          if (!m || Number(m[1]) !== have) {
            res.destroy()
            throw new HubError('E_NETWORK', 'the server resumed at the wrong offset', true)
          }
        }
        const tooLong = () =>
          new HubError(
            'E_INTEGRITY',
            `${job.file}: the server sends more than the ${job.size} bytes the file list gives`,
          )
        // An answer that announces more than the file has left is refused before a byte is written.
        const announced = Number(res.headers['content-length'] ?? Number.NaN)
        if (Number.isFinite(announced) && announced > job.size - (append ? have : 0)) {
          res.destroy()
          throw tooLong()
        }
        await writeBody(
          res,
          job.incompletePath,
          append,
          opts.stallTimeoutMs,
          job.size - (append ? have : 0),
          tooLong,
          (b) => {
            hash?.update(b)
            have += b.length
            fetched += b.length
            opts.onProgress?.(have)
          },
        )
        if (have > job.size)
          throw new HubError('E_INTEGRITY', `${job.file}: received ${have} bytes, expected ${job.size}`)
        if (have < job.size)
          throw new HubError('E_NETWORK', `the connection ended at ${have} of ${job.size} bytes`, true)
      } catch (e) {
        if (isDiskFull(e)) throw diskFullError(job.incompletePath)
        const retry = asRetryable(e)
        if (!retry) throw e
        // Bounded: the count resets whenever an attempt moved the file forward by a useful amount (a
        // server that ends every answer after a few bytes must not be retried byte by byte).
        failures = have - before >= MIN_PROGRESS ? 1 : failures + 1
        if (failures > opts.retries)
          throw new HubError(
            'E_NETWORK',
            `${job.file}: download failed after ${attempt} attempts (${retry.message}); ` +
              `run again to resume from ${have} of ${job.size} bytes`,
          )
        const delay = Math.min(10_000, opts.retryBaseMs * 2 ** (failures - 1))
        opts.onRetry?.(attempt, retry.message, delay)
        await sleep(delay)
      }
    }
    if (job.size === 0) await (await open(job.incompletePath, 'a')).close()
    const digest = hash?.digest('hex')
    if (digest !== undefined && digest !== job.etag) {
      await unlink(job.incompletePath).catch(() => {})
      throw new HubError(
        'E_INTEGRITY',
        `${job.file}: ${kind} of the downloaded bytes is ${digest}, expected ${job.etag}; the blob was deleted, run again`,
      )
    }
    const fh = await open(job.incompletePath, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(job.incompletePath, job.finalPath)
  } catch (e) {
    if (isDiskFull(e)) throw diskFullError(job.incompletePath)
    throw e
  }
  return { fetched, resumedFrom }
}
