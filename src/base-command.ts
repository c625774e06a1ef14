// Flags every command shares, and one place that turns errors into one line (or one JSON object)
// and an exit status: 1 for run-time failures, 2 for bad usage.
import { Command, Errors, Flags } from '@oclif/core'
import { KilnError } from './core/errors.js'

export abstract class BaseCommand extends Command {
  static baseFlags = {
    json: Flags.boolean({ description: 'Print one JSON document on stdout (errors too).', default: false }),
    quiet: Flags.boolean({ char: 'q', description: 'Print only the result.', default: false }),
  }

  /** Set by run() once flags are parsed, so catch() knows the output mode. */
  protected jsonMode = false

  protected writeOut(text: string): void {
    process.stdout.write(text)
  }

  protected writeErr(text: string): void {
    process.stderr.write(text)
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    const json = this.jsonMode || this.argv.includes('--json')
    let code = 'E_INTERNAL'
    let exit = 1
    if (err instanceof KilnError) {
      code = err.code
      exit = err.exitCode
    } else if (err instanceof Errors.CLIError || err.oclif) {
      code = 'E_USAGE'
      exit = err.oclif?.exit ?? 2
      if (exit === 0) throw err // --help / --version
    }
    const message = oneLine(err.message || String(err))
    if (json) this.writeOut(`${JSON.stringify({ error: { code, message } })}\n`)
    else this.writeErr(`kiln: ${message}\n`)
    if (code === 'E_INTERNAL' && process.env.KILN_DEBUG) this.writeErr(`${err.stack}\n`)
    process.exitCode = exit
    this.exit(exit)
  }
}

/**
 * oclif's parse errors span lines ("Parsing --threads \n\tExpected an integer but received: 1.5\nSee more
 * help with --help"); the first line alone says nothing, so the lines are joined and the help hint dropped.
 */
function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^See more help with/.test(l))
  return lines.join(': ') || 'unknown error'
}
