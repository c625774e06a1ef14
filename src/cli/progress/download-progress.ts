// Renders download events: on a terminal one cli-progress multibar (a bar per file being fetched and
// a total with speed and ETA); otherwise one line per finished file; or nothing (--json, --quiet).
import cliProgress from 'cli-progress'
import { renderOptions } from '../../core/errors.js'
import type { DownloadEvent, DownloadListener } from '../../core/hub/events.js'
import { flagName } from '../error-output.js'
import { cliIo } from '../io.js'

export type ProgressMode = 'tty' | 'lines' | 'none'

export interface ProgressStream {
  write(text: string): unknown
  isTTY?: boolean
}

export function pickProgressMode(
  stream: ProgressStream,
  opts: { json?: boolean; quiet?: boolean },
): ProgressMode {
  if (opts.quiet) return 'none'
  return stream.isTTY && !process.env.CI ? 'tty' : 'lines'
}

export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`
  return `${n} B`
}

function formatEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--'
  if (s < 60) return `${Math.ceil(s)}s`
  const m = Math.floor(s / 60)
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${m % 60}m`
}

/** Bytes per second over the last few seconds, so the ETA follows the current rate. */
class RateMeter {
  private samples: [number, number][] = []
  add(bytes: number): void {
    const now = performance.now()
    this.samples.push([now, bytes])
    while (this.samples.length > 2 && now - this.samples[0][0] > 5000) this.samples.shift()
  }
  rate(): number {
    if (this.samples.length < 2) return 0
    const [t0, b0] = this.samples[0]
    const [t1, b1] = this.samples[this.samples.length - 1]
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0
  }
}

export interface ProgressRenderer {
  onEvent: DownloadListener
  stop(): void
}

/** The renderer for the current run's stderr: bars on a terminal, lines otherwise, none when quiet. */
export function downloadProgress(opts: { quiet?: boolean } = {}): ProgressRenderer {
  const stream = cliIo().stderr
  return createProgressRenderer(pickProgressMode(stream, opts), stream)
}

const warningLine = (ev: { template: string }) => `kiln: warning: ${renderOptions(ev.template, flagName)}\n`

export function createProgressRenderer(mode: ProgressMode, stream: ProgressStream): ProgressRenderer {
  if (mode === 'none') return { onEvent: () => {}, stop: () => {} }
  if (mode === 'lines') return linesRenderer(stream)
  return ttyRenderer(stream as NodeJS.WriteStream)
}

function linesRenderer(stream: ProgressStream): ProgressRenderer {
  return {
    onEvent(ev: DownloadEvent) {
      if (ev.type === 'plan' && ev.fetchBytes > 0)
        stream.write(
          `${ev.repo}@${ev.commit.slice(0, 12)}: ${ev.files.filter((f) => f.fetch).length} of ${ev.files.length} files to fetch (${formatBytes(ev.fetchBytes)})\n`,
        )
      else if (ev.type === 'file-start' && ev.resumedFrom > 0)
        stream.write(`${ev.path}: resuming at ${formatBytes(ev.resumedFrom)} of ${formatBytes(ev.size)}\n`)
      else if (ev.type === 'file-retry')
        stream.write(`${ev.path}: ${ev.reason}; retry ${ev.attempt} in ${(ev.delayMs / 1000).toFixed(1)} s\n`)
      else if (ev.type === 'file-wait') stream.write(`${ev.path}: waiting for another process fetching it\n`)
      else if (ev.type === 'file-done')
        stream.write(`${ev.path} ${formatBytes(ev.size)}${ev.downloaded ? '' : ' (cached)'}\n`)
      else if (ev.type === 'warning') stream.write(warningLine(ev))
      else if (ev.type === 'done' && ev.bytesDownloaded > 0)
        stream.write(
          `fetched ${formatBytes(ev.bytesDownloaded)} in ${ev.seconds.toFixed(1)} s (${formatBytes(ev.bytesDownloaded / Math.max(ev.seconds, 1e-3))}/s)\n`,
        )
    },
    stop() {},
  }
}

function ttyRenderer(stream: NodeJS.WriteStream): ProgressRenderer {
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      format: ' {label} |{bar}| {done} / {size}  {extra}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      fps: 8,
    },
    cliProgress.Presets.shades_classic,
  )
  // Ctrl-C: give the terminal its cursor back, then die of the signal as usual (the partial files
  // stay, for the next run to resume).
  const onInterrupt = () => {
    multibar.stop()
    process.kill(process.pid, 'SIGINT')
  }
  process.once('SIGINT', onInterrupt)
  const bars = new Map<string, cliProgress.SingleBar>()
  const have = new Map<string, number>()
  let total: cliProgress.SingleBar | undefined
  let totalBytes = 0
  let base = 0 // bytes already on disk when the run started (resumed partials)
  const meter = new RateMeter()
  const width = 28
  const label = (p: string) => (p.length > width ? `…${p.slice(-(width - 1))}` : p.padEnd(width))
  const updateTotal = () => {
    if (!total) return
    let done = 0
    for (const v of have.values()) done += v
    meter.add(done - base)
    const rate = meter.rate()
    total.update(done, {
      label: label('total'),
      done: formatBytes(done),
      size: formatBytes(totalBytes),
      extra: `${formatBytes(rate)}/s  ETA ${formatEta(rate > 0 ? (totalBytes - done) / rate : Number.NaN)}`,
    })
  }
  return {
    onEvent(ev: DownloadEvent) {
      switch (ev.type) {
        case 'plan':
          totalBytes = ev.fetchBytes
          if (totalBytes > 0)
            total = multibar.create(totalBytes, 0, {
              label: label('total'),
              done: formatBytes(0),
              size: formatBytes(totalBytes),
              extra: '',
            })
          break
        case 'file-start': {
          have.set(ev.path, ev.resumedFrom)
          base += ev.resumedFrom
          const bar = multibar.create(Math.max(ev.size, 1), ev.resumedFrom, {
            label: label(ev.path),
            done: formatBytes(ev.resumedFrom),
            size: formatBytes(ev.size),
            extra: ev.resumedFrom ? 'resumed' : '',
          })
          bars.set(ev.path, bar)
          break
        }
        case 'file-progress':
          have.set(ev.path, ev.have)
          bars.get(ev.path)?.update(ev.have, { done: formatBytes(ev.have) })
          updateTotal()
          break
        case 'file-retry':
          multibar.log(
            `${ev.path}: ${ev.reason}; retry ${ev.attempt} in ${(ev.delayMs / 1000).toFixed(1)} s\n`,
          )
          break
        case 'file-wait':
          multibar.log(`${ev.path}: waiting for another process fetching it\n`)
          break
        case 'file-done': {
          const bar = bars.get(ev.path)
          if (bar) {
            multibar.remove(bar)
            bars.delete(ev.path)
            multibar.log(`${ev.path} ${formatBytes(ev.size)}\n`)
          }
          if (ev.downloaded) have.set(ev.path, ev.size)
          updateTotal()
          break
        }
        case 'done':
          updateTotal()
          break
        case 'warning':
          multibar.log(warningLine(ev))
          break
      }
    },
    stop() {
      process.off('SIGINT', onInterrupt)
      multibar.stop()
    },
  }
}
