// End-to-end helpers: run the compiled CLI (dist/cli/main.js, what bin/run.js calls) in this process
// with its own streams and environment, or bin/run.js as a child process where the process itself is
// under test (start-up, signals, exit codes set by Node); and make throwaway model folders (copies of
// the golden fixtures, optionally broken on purpose).
import { spawn } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { format } from 'node:util'
import { golden } from './fixtures.js'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = path.join(ROOT, 'bin', 'run.js')

export interface KilnRun {
  /** Exit status (null when killed by a signal). */
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** stdout as the raw bytes written, for UTF-8 checks. */
  stdoutBytes: Buffer
  /** stdout as the pieces written (in-process) or delivered by the pipe, to check that streaming never splits a character. */
  chunks: Buffer[]
}

export interface RunOptions {
  /** What stdin holds (it is empty without it). */
  input?: string | Buffer
  /** Laid over this process's environment; a variable set to undefined is removed. */
  env?: NodeJS.ProcessEnv
  /** spawnKiln kills the child after this long; an in-process run is bounded by the test's timeout. */
  timeoutMs?: number
}

let checkedBuild = false

/** The tests run the compiled CLI, so a missing dist is a setup problem worth naming. */
function checkBuild(): void {
  if (checkedBuild) return
  checkedBuild = true
  const compiled = path.join(ROOT, 'dist', 'commands', 'generate.js')
  if (!existsSync(compiled)) {
    throw new Error(`${compiled} is missing: build first with \`npx tsc -p tsconfig.build.json\``)
  }
  const source = path.join(ROOT, 'src', 'commands', 'generate.ts')
  if (existsSync(source) && statSync(source).mtimeMs > statSync(compiled).mtimeMs) {
    console.warn(
      'dist/ looks older than src/: the CLI tests run dist, rebuild with `npx tsc -p tsconfig.build.json`',
    )
  }
}

function childEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra }
  // KILN_DEBUG adds stack traces to internal errors; the tests check that there are none.
  if (!extra || !('KILN_DEBUG' in extra)) delete env.KILN_DEBUG
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
  return env
}

/** A stream that keeps what is written to it. */
function capture(): { write(text: string | Uint8Array): boolean; isTTY: false; chunks: Buffer[] } {
  const chunks: Buffer[] = []
  return {
    isTTY: false,
    chunks,
    write(text: string | Uint8Array) {
      chunks.push(Buffer.from(text))
      return true
    },
  }
}

type Main = (argv: string[]) => Promise<number>
type WithIo = <T>(io: unknown, fn: () => Promise<T>) => Promise<T>
let cli: Promise<{ main: Main; withCliIo: WithIo }> | undefined
let queue: Promise<unknown> = Promise.resolve()

/**
 * Runs `kiln <args>` in this process, as bin/run.js would in its own: the same main(), with the
 * environment, working folder and streams of a fresh process. Runs take turns (they share
 * process.env), so tests marked concurrent still see one run at a time.
 */
export function runKiln(args: string[], opts: RunOptions = {}): Promise<KilnRun> {
  checkBuild()
  cli ??= (async () => {
    const dist = (f: string) => pathToFileURL(path.join(ROOT, 'dist', 'cli', f)).href
    const [{ main }, { withCliIo }] = await Promise.all([import(dist('main.js')), import(dist('io.js'))])
    return { main, withCliIo }
  })()
  const run = queue.then(() => runInProcess(args, opts))
  queue = run.catch(() => {})
  return run
}

async function runInProcess(args: string[], opts: RunOptions): Promise<KilnRun> {
  const { main, withCliIo } = await cli!
  const stdout = capture()
  const stderr = capture()
  const stdin = Object.assign(Readable.from(opts.input === undefined ? [] : [Buffer.from(opts.input)]), {
    isTTY: false,
  })
  const savedEnv = process.env
  const savedCwd = process.cwd()
  const saved = {
    out: process.stdout.write,
    err: process.stderr.write,
    log: console.log,
    error: console.error,
  }
  process.env = childEnv(opts.env)
  process.chdir(ROOT)
  // oclif writes help and its own messages to the process's streams, through console.
  process.stdout.write = ((t: string | Uint8Array) => stdout.write(t)) as typeof process.stdout.write
  process.stderr.write = ((t: string | Uint8Array) => stderr.write(t)) as typeof process.stderr.write
  console.log = (...a: unknown[]) => stdout.write(`${format(...a)}\n`)
  console.error = (...a: unknown[]) => stderr.write(`${format(...a)}\n`)
  let status: number
  try {
    status = await withCliIo({ stdout, stderr, stdin }, () => main(args))
  } finally {
    process.stdout.write = saved.out
    process.stderr.write = saved.err
    console.log = saved.log
    console.error = saved.error
    process.env = savedEnv
    process.chdir(savedCwd)
    process.exitCode = undefined
  }
  const stdoutBytes = Buffer.concat(stdout.chunks)
  return {
    status,
    signal: null,
    stdout: stdoutBytes.toString('utf8'),
    stderr: Buffer.concat(stderr.chunks).toString('utf8'),
    stdoutBytes,
    chunks: stdout.chunks,
  }
}

/**
 * Runs `kiln <args>` as a child process, to completion. For what only a process shows: start-up,
 * signals, the fast path of bin/run.js as it is, a real pipe.
 */
export function spawnKiln(args: string[], opts: RunOptions = {}): Promise<KilnRun> {
  checkBuild()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv(opts.env) })
    const chunks: Buffer[] = []
    const err: Buffer[] = []
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.stdout.on('data', (c: Buffer) => chunks.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      const stdoutBytes = Buffer.concat(chunks)
      resolve({
        status,
        signal,
        stdout: stdoutBytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        stdoutBytes,
        chunks,
      })
    })
    // The child may exit before reading stdin (a PROMPT was given, or a usage error).
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
}

/** The JSON object a `--json` run printed: stdout must be exactly one line of JSON. */
export function jsonOut<T = Record<string, unknown>>(r: KilnRun): T {
  const lines = r.stdout.split('\n').filter((l) => l !== '')
  if (lines.length !== 1) {
    throw new Error(
      `expected one JSON line on stdout, got ${lines.length}:\n${r.stdout}\nstderr:\n${r.stderr}`,
    )
  }
  return JSON.parse(lines[0]) as T
}

/** Every non-empty stdout line parsed as JSON (for --prompts-file). */
export function jsonLines<T = Record<string, unknown>>(r: KilnRun): T[] {
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T)
}

/** What `kiln generate --json` prints on success. */
export interface GenerateJson {
  text: string
  tokens: number[]
  prompt_tokens: number
  completion_tokens: number
  finish_reason: 'length' | 'stop' | 'eos'
  timings: { load_ms: number; prefill_tokens_per_s: number; decode_tokens_per_s: number }
}

/** Temp folders made by this process, removed by removeTempDirs(). */
const tempDirs: string[] = []

export function makeTempDir(prefix = 'kiln-cli-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  tempDirs.push(dir)
  return dir
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) {
    // Restore permissions a test may have taken away, so rm can walk the tree.
    try {
      chmodSync(dir, 0o700)
      for (const f of readdirSync(dir)) chmodSync(path.join(dir, f), 0o700)
    } catch {}
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A writable copy of golden fixture `name` holding only what a model folder holds (the golden.*
 * reference files are left out: a stray .safetensors would be picked up as the weights).
 */
export function copyModel(name: string): string {
  const src = golden(name)
  const dir = path.join(makeTempDir(), name)
  cpSync(src, dir, { recursive: true, filter: (f) => !path.basename(f).startsWith('golden.') })
  chmodSync(dir, 0o755)
  for (const f of readdirSync(dir)) chmodSync(path.join(dir, f), 0o644)
  return dir
}

/** Reads, edits and rewrites a JSON file of a model folder. */
export function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  edit(json)
  writeFileSync(file, JSON.stringify(json, null, 2))
}

type SafetensorsHeader = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>

/** Rewrites a safetensors file's JSON header, keeping its data section byte for byte. */
export function editSafetensorsHeader(file: string, edit: (header: SafetensorsHeader) => void): void {
  const bytes = readFileSync(file)
  const n = Number(bytes.readBigUInt64LE(0))
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as SafetensorsHeader
  edit(header)
  // Padded with spaces to a multiple of 8, as writers do, so the data section stays aligned.
  let text = JSON.stringify(header)
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8)
  const json = Buffer.from(text, 'utf8')
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(json.length))
  writeFileSync(file, Buffer.concat([len, json, bytes.subarray(8 + n)]))
}
