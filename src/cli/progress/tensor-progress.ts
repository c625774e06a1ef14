// What export and quantize show while a GGUF is written: warnings as `kiln: warning:` lines (unless
// quiet), and on a terminal a bar that advances per tensor, on stderr.
import { cliIo } from '../io.js'

export interface TensorEvent {
  type: string
  index?: number
  count?: number
  name?: string
  message?: string
}

export function tensorProgress(opts: { json: boolean; quiet: boolean }) {
  const stderr = cliIo().stderr
  const tty = stderr.isTTY === true && !opts.json && !opts.quiet
  let drawn = false
  return {
    /** True when a bar is drawn (a terminal, and neither --json nor --quiet). */
    tty,
    onEvent(ev: TensorEvent): void {
      if (ev.type === 'warning' && !opts.quiet) stderr.write(`kiln: warning: ${ev.message}\n`)
      if (ev.type !== 'tensor' || !tty || !ev.count) return
      const width = 24
      const i = (ev.index ?? 0) + 1
      const done = Math.round((i / ev.count) * width)
      stderr.write(
        `\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${i}/${ev.count} ${ev.name ?? ''}`.padEnd(90),
      )
      drawn = true
    },
    /** Ends the bar's line. */
    end(): void {
      if (drawn) stderr.write('\n')
    },
  }
}
