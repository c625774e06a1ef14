// Flags every command shares, and one place that turns errors into one line (or one JSON object)
// and an exit status: 1 for run-time failures, 2 for bad usage.
import { Command, Errors, Flags } from '@oclif/core'
import { errorOutput } from './core/settings/error-output.js'

export abstract class BaseCommand extends Command {
  static baseFlags = {
    json: Flags.boolean({ description: 'Print one JSON document on stdout (errors too).', default: false }),
    quiet: Flags.boolean({ char: 'q', description: 'Print only the result.', default: false }),
    // bin/run.js turns --no-color into NO_COLOR before anything that colours is loaded; the flag is
    // declared here so every command accepts it and lists it in its help.
    color: Flags.boolean({
      description: 'Colour on a terminal (--no-color or NO_COLOR turn it off).',
      default: true,
      allowNo: true,
    }),
  }

  /** Set by run() once flags are parsed, so catch() knows the output mode. */
  protected jsonMode = false

  protected writeOut(text: string): void {
    process.stdout.write(text)
  }

  protected writeErr(text: string): void {
    process.stderr.write(text)
  }

  /** Colour is for people: a terminal, and neither NO_COLOR nor --no-color. */
  protected colorEnabled(stream: NodeJS.WriteStream = process.stdout): boolean {
    return stream.isTTY === true && !process.env.NO_COLOR && !this.argv.includes('--no-color')
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    const json = this.jsonMode || this.argv.includes('--json')
    const usage = err instanceof Errors.CLIError || err.oclif ? { exit: err.oclif?.exit ?? 2 } : undefined
    if (usage?.exit === 0) throw err // --help / --version
    const out = errorOutput(err, json, usage)
    if (out.stdout) this.writeOut(out.stdout)
    if (out.stderr) this.writeErr(out.stderr)
    process.exitCode = out.exit
    this.exit(out.exit)
  }
}
