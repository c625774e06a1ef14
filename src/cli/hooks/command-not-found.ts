// An unknown command is bad usage: one line naming it, the nearest command if one is close, exit 2.
import type { Hook } from '@oclif/core'
import { UsageError } from '../../core/errors.js'

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]
    d[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return d[b.length]
}

const hook: Hook<'command_not_found'> = async (opts) => {
  const name = opts.id.split(':')[0]
  // Top-level names: commands, and topics whose commands are all subcommands (`cache`).
  const commands = [...new Set(opts.config.commandIDs.map((c) => c.split(':')[0]))].sort()
  const near = commands.filter((c) => distance(name, c) <= 2)
  const hint = near.length ? `; did you mean "${near[0]}"?` : ''
  // oclif hands a hook's error with an exit status on to the caller, main.ts, which prints it.
  throw Object.assign(new UsageError(`unknown command "${name}"${hint} (commands: ${commands.join(', ')})`), {
    oclif: { exit: 2 },
  })
}

export default hook
