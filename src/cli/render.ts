// The one place a command's result becomes output: its JSON document with --json, else its text
// (the result on stdout, a report for people on stderr), and the exit status it implies. Commands
// return typed results and say only how they read as text; nobody else writes JSON.
import type { CliIo } from './io.js'

/** What a result prints as text: `out` is the result itself, `err` a report for people. */
export interface Text {
  out?: string
  err?: string
}

/** What text rendering may look at besides the result: --quiet, and the command line as parsed. */
export interface TextContext {
  /** --quiet: the result alone. */
  quiet: boolean
  flags: Record<string, unknown>
  args: Record<string, unknown>
}

export interface Rendering<R> {
  text(result: R, context: TextContext): Text
  /** The JSON lines of the result (default: the result as one line). */
  jsonLines?(result: R): unknown[]
  /** Exit status (default 0): a result can be a report of failures (cache verify). */
  status?(result: R): number
}

/** Prints `result` as `rendering` says; returns the exit status. */
export function renderResult<R>(
  result: R,
  rendering: Rendering<R>,
  context: TextContext & { json: boolean },
  io: CliIo,
): number {
  if (context.json) {
    io.stdout.write(jsonText(rendering.jsonLines ? rendering.jsonLines(result) : [result]))
  } else {
    const text = rendering.text(result, context)
    if (text.out) io.stdout.write(text.out)
    if (text.err) io.stderr.write(text.err)
  }
  return rendering.status?.(result) ?? 0
}

/** Values as JSON lines. */
export function jsonText(lines: unknown[]): string {
  return lines.map((l) => `${JSON.stringify(l)}\n`).join('')
}
