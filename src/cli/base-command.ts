// Flags every command shares, the rendering of every command's typed result (render.ts), and one
// place that turns errors into one line (or one JSON object) and an exit status: 1 for run-time
// failures, 2 for bad usage.
import { Command, Errors, Flags } from '@oclif/core'
import type { Input, ParserOutput } from '@oclif/core/parser'
import { errorOutput } from './error-output.js'
import { cliIo } from './io.js'
import { type Rendering, renderResult } from './render.js'

// What oclif's parse takes and gives (its own names for these are not exported).
// biome-ignore lint/suspicious/noExplicitAny: oclif's flag and argument maps are any-valued
type Parsed = { [name: string]: any }

export abstract class BaseCommand<R = unknown> extends Command {
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

  /** How this command's result reads as text (and JSON lines, and its exit status). */
  protected abstract readonly rendering: Rendering<R>

  /** Set once flags are parsed, so rendering and catch() know the output mode. */
  protected jsonMode = false
  private commandLine?: { flags: Record<string, unknown>; args: Record<string, unknown> }

  abstract run(): Promise<R>

  protected async parse<F extends Parsed, B extends Parsed, A extends Parsed>(
    options?: Input<F, B, A>,
    argv?: string[],
  ): Promise<ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv)
    this.commandLine = parsed
    this.jsonMode = parsed.flags.json === true
    return parsed
  }

  protected async _run<T>(): Promise<T> {
    const result = (await super._run<T>()) as R
    const { flags, args } = this.commandLine ?? { flags: {}, args: {} }
    const context = { json: this.jsonMode, quiet: flags.quiet === true, flags, args }
    const status = renderResult(result, this.rendering, context, cliIo())
    if (status !== 0) this.exit(status)
    return result as unknown as T
  }

  /** Colour is for people: a terminal, and neither NO_COLOR nor --no-color. */
  protected colorEnabled(): boolean {
    return cliIo().stdout.isTTY === true && !process.env.NO_COLOR && !this.argv.includes('--no-color')
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<void> {
    const json = this.jsonMode || this.argv.includes('--json')
    const usage = err instanceof Errors.CLIError || err.oclif ? { exit: err.oclif?.exit ?? 2 } : undefined
    if (usage?.exit === 0) throw err // --help / --version
    const out = errorOutput(err, json, usage)
    const io = cliIo()
    if (out.stdout) io.stdout.write(out.stdout)
    if (out.stderr) io.stderr.write(out.stderr)
    this.exit(out.exit)
  }
}
