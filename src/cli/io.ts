// Where the CLI reads and writes: the process's own streams, or those of an in-process run (the
// tests run most commands this way, main.ts's runCli). Only the CLI uses this; core never prints.

/** A stream the CLI writes text to (stdout or stderr). */
export interface OutStream {
  write(text: string | Uint8Array): unknown
  isTTY?: boolean
}

export interface CliIo {
  stdout: OutStream
  stderr: OutStream
  stdin: AsyncIterable<Buffer | string> & { isTTY?: boolean }
}

const processIo: CliIo = {
  get stdout() {
    return process.stdout
  },
  get stderr() {
    return process.stderr
  },
  get stdin() {
    return process.stdin
  },
}

// Kept on globalThis rather than in a module variable: a test runner may hold this module twice
// (its own loader for the test, Node's for the commands oclif imports), and both must see one run.
const CURRENT = Symbol.for('kiln.cli.io')
const slot = globalThis as { [CURRENT]?: CliIo }

/** The streams of the run in progress. */
export function cliIo(): CliIo {
  return slot[CURRENT] ?? processIo
}

/** Runs `fn` with `io` as the CLI's streams (one run at a time: the caller serialises runs). */
export async function withCliIo<T>(io: CliIo, fn: () => Promise<T>): Promise<T> {
  const before = slot[CURRENT]
  slot[CURRENT] = io
  try {
    return await fn()
  } finally {
    slot[CURRENT] = before
  }
}

/** All of stdin as UTF-8 text. */
export async function readAll(stream: CliIo['stdin']): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  return Buffer.concat(chunks).toString('utf8')
}
