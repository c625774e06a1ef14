// What export and quantize show while a GGUF is written: warnings as `kiln: warning:` lines (unless
// quiet), and on a terminal a bar that advances per tensor, on stderr.
import type { Output } from '../generate-command.js'

export interface TensorEvent {
  type: string
  index?: number
  count?: number
  name?: string
  message?: string
}

export function tensorProgress(io: Output, opts: { tty: boolean; quiet: boolean }) {
  let drawn = false
  return {
    onEvent(ev: TensorEvent): void {
      if (ev.type === 'warning' && !opts.quiet) io.err(`kiln: warning: ${ev.message}\n`)
      if (ev.type !== 'tensor' || !opts.tty || !ev.count) return
      const width = 24
      const i = (ev.index ?? 0) + 1
      const done = Math.round((i / ev.count) * width)
      io.err(
        `\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${i}/${ev.count} ${ev.name ?? ''}`.padEnd(90),
      )
      drawn = true
    },
    /** Ends the bar's line. */
    end(): void {
      if (drawn) io.err('\n')
    },
  }
}
