// Progress of a task command over many texts, on stderr and only on a terminal (never with --json
// or --quiet): a bar by bytes of the input file when its size is known, else a running count.
import { cliIo } from '../io.js'

export function itemProgress(opts: { json: boolean; quiet: boolean; totalBytes?: number }) {
  const stderr = cliIo().stderr
  const tty = stderr.isTTY === true && !opts.json && !opts.quiet
  const t0 = performance.now()
  let drawn = false
  return {
    update(done: number, bytesRead: number): void {
      if (!tty) return
      const rate = done / Math.max((performance.now() - t0) / 1000, 1e-3)
      let line = `${done} texts, ${rate.toFixed(1)}/s`
      if (opts.totalBytes) {
        const width = 24
        const frac = Math.min(1, bytesRead / opts.totalBytes)
        const bar = Math.round(frac * width)
        line = `[${'#'.repeat(bar)}${'.'.repeat(width - bar)}] ${(frac * 100).toFixed(0)}% ${line}`
      }
      stderr.write(`\r${line}`.padEnd(70))
      drawn = true
    },
    end(): void {
      if (drawn) stderr.write('\n')
    },
  }
}
