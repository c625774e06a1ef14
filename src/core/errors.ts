// Typed errors with stable codes. Library users switch on `code`; front ends render the message in
// their own words for options: a message names an option through option('topP'), which reads
// "topP" in `message`, and which the CLI renders as --top-p and the server as top_p (renderMessage).
export class KilnError extends Error {
  readonly code: string
  /** Exit status a command should use: 1 run-time failure, 2 bad usage. */
  readonly exitCode: number
  /** Library names of the options the message refers to, in order (the first is the culprit). */
  readonly options: string[]
  /** The message with its option marks, for renderMessage. */
  readonly template: string
  constructor(code: string, message: string, exitCode = 1) {
    message = oneLineMessage(message)
    super(renderOptions(message, (name) => name))
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
    this.template = message
    this.options = [...message.matchAll(OPTION_MARK)].map((m) => m[1])
  }
}

/**
 * Every kiln error is one line, whatever a file or a request put in it: line breaks that reach a
 * message (a value echoed without quoting) are escaped as JSON would. Sites quote the values they
 * echo (util/shown.ts); this is the backstop.
 */
function oneLineMessage(message: string): string {
  return /[\n\r\u2028\u2029\u0085]/.test(message)
    ? message.replace(/[\n\r\u2028\u2029\u0085]/g, (c) => LINE_BREAK_ESCAPES[c])
    : message
}

const LINE_BREAK_ESCAPES: Record<string, string> = {
  '\n': '\\n',
  '\r': '\\r',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
  '\u0085': '\\u0085',
}

// Control characters cannot come from a path or a value that ends up in a message (those are
// printable), so a mark is never confused with the text around it.
const OPTION_MARK = /\u0001([A-Za-z][\w.]*)\u0002/g

/** An option of the library's API named in an error message (its name is what a library user typed). */
export function option(name: string): string {
  return `\u0001${name}\u0002`
}

/** A text holding option() marks with each option named by `name` (a flag, an HTTP field). */
export function renderOptions(template: string, name: (option: string) => string): string {
  return template.replace(OPTION_MARK, (_, option: string) => name(option))
}

/** `err`'s message with each option named as a front end names it. */
export function renderMessage(err: Error, name: (option: string) => string): string {
  return err instanceof KilnError ? renderOptions(err.template, name) : err.message
}

/** A file that is missing, unreadable, truncated or inconsistent. */
export class FormatError extends KilnError {
  constructor(message: string) {
    super('E_FORMAT', message)
  }
}

/** A config.json that kiln cannot run (missing fields, unsupported architecture). */
export class ConfigError extends KilnError {
  constructor(message: string) {
    super('E_CONFIG', message)
  }
}

export class UnsupportedArchitectureError extends KilnError {
  constructor(message: string) {
    super('E_UNSUPPORTED_ARCH', message)
  }
}

/** An option or argument that is out of range or inconsistent (name options with option()). */
export class UsageError extends KilnError {
  constructor(message: string) {
    super('E_USAGE', message, 2)
  }
}

/** The input does not fit the model (prompt longer than the context, token out of range). */
export class InputError extends KilnError {
  constructor(message: string) {
    super('E_INPUT', message)
  }
}

/** A kiln settings file that cannot be read or holds a bad value; the message names the file and line. */
export class SettingsError extends KilnError {
  constructor(message: string) {
    super('E_SETTINGS', message)
  }
}

/** A device this build cannot run on (e.g. cuda in a CPU-only build). */
export class DeviceError extends KilnError {
  constructor(message: string) {
    super('E_DEVICE', message)
  }
}
