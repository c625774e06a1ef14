// How every command reports an error: one line `kiln: <message>` on stderr, or one
// {"error": {"code", "message"}} document on stdout with --json, and the exit status (1 run time,
// 2 usage). Shared by BaseCommand, main.ts and the start-up fast path so all print the same bytes.
import { KilnError, renderMessage } from '../core/errors.js'

export interface ErrorOutput {
  code: string
  exit: number
  /** What goes to stdout (--json) or stderr (text). */
  stdout: string
  stderr: string
}

/**
 * The flag for a library option: `topP` is --top-p, `maxNewTokens` --max-new-tokens (every kiln
 * flag is its option's name in kebab case).
 */
export function flagName(option: string): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`
}

/**
 * oclif's parse errors span lines ("Parsing --threads \n\tExpected an integer but received: 1.5\nSee more
 * help with --help"); the first line alone says nothing, so the lines are joined and the help hint dropped.
 */
export function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^See more help with/.test(l))
  return lines.join(': ') || 'unknown error'
}

/** `usage`: the error is one of the CLI parser's (bad flag or argument), exit from `usageExit`. */
export function errorOutput(err: Error, json: boolean, usage?: { exit: number }): ErrorOutput {
  let code = 'E_INTERNAL'
  let exit = 1
  if (err instanceof KilnError) {
    code = err.code
    exit = err.exitCode
  } else if (usage) {
    code = 'E_USAGE'
    exit = usage.exit
  }
  const message = oneLine(renderMessage(err, flagName) || String(err))
  const debug = code === 'E_INTERNAL' && process.env.KILN_DEBUG ? `${err.stack}\n` : ''
  if (json) return { code, exit, stdout: `${JSON.stringify({ error: { code, message } })}\n`, stderr: debug }
  return { code, exit, stdout: '', stderr: `kiln: ${message}\n${debug}` }
}
