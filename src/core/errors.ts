// Typed errors with stable codes. Commands print `message` as one line (or {"error": {code, message}}
// with --json) and exit non-zero; library users can switch on `code`.
export class KilnError extends Error {
  readonly code: string
  /** Exit status a command should use: 1 run-time failure, 2 bad usage. */
  readonly exitCode: number
  constructor(code: string, message: string, exitCode = 1) {
    super(message)
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
  }
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

/** A flag or argument that is out of range or inconsistent. */
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
