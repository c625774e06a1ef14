// Shared by the hostile tests: kiln as a real process that can be killed with SIGKILL at a chosen
// moment, a seeded random source (the seed is printed, so a failure can be replayed), and the
// number of kills per writer (KILN_HOSTILE_KILLS, default small enough for CI on two cores).
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs'
import path from 'node:path'
import { expect } from 'vitest'
import { BIN, makeTempDir, ROOT } from '../helpers/cli.js'
import { mulberry32 } from '../helpers/numbers.js'

/** Kills per writer; `KILN_HOSTILE_KILLS=200 npx vitest run test/hostile` for a longer run. */
export const KILLS = Math.max(1, Number(process.env.KILN_HOSTILE_KILLS) || 6)

/** A test's time limit for `runs` kiln processes: generous, a loaded two-core machine is slow. */
export function timeoutFor(runs: number): number {
  return 30_000 + runs * 8_000
}

/** The seed of this run (KILN_HOSTILE_SEED replays one). */
export const SEED = Number(process.env.KILN_HOSTILE_SEED) || (Date.now() % 1_000_000) + 1

/** A seeded generator, one per test so their draws do not depend on each other. */
export function rng(seed: number = SEED): () => number {
  return mulberry32(seed)
}

export interface Finished {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Milliseconds from spawn to exit. */
  ms: number
}

function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra }
  if (!('KILN_DEBUG' in extra)) delete env.KILN_DEBUG
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k]
  return env
}

export interface Running {
  child: ChildProcess
  done: Promise<Finished>
}

/** `node <script> <args>` (bin/run.js by default) as a child process, started now. */
export function start(args: string[], env: NodeJS.ProcessEnv = {}, script = BIN): Running {
  const t0 = performance.now()
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout!.on('data', (c: Buffer) => out.push(c))
  child.stderr!.on('data', (c: Buffer) => err.push(c))
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - t0,
      })
    })
  })
  return { child, done }
}

/** Runs to the end. */
export function run(args: string[], env: NodeJS.ProcessEnv = {}, script = BIN): Promise<Finished> {
  return start(args, env, script).done
}

export type KillMoment =
  /** SIGKILL this many milliseconds after the spawn. */
  | { afterMs: number }
  /**
   * SIGKILL as soon as a name matching `match` changes in `dir` (the writer created its temporary
   * file, or renamed it into place), plus a delay.
   */
  | { onChangeIn: string; match: RegExp; delayMs: number; fallbackMs: number }
  /** SIGKILL once `when()` holds (polled every 5 ms), or after fallbackMs. */
  | { when: () => boolean; fallbackMs: number }

/**
 * Starts the writer and kills it with SIGKILL at `moment` (unless it finished first). `killed` says
 * whether the signal landed.
 */
export async function killAt(
  args: string[],
  env: NodeJS.ProcessEnv,
  moment: KillMoment,
  script = BIN,
): Promise<Finished & { killed: boolean }> {
  const r = start(args, env, script)
  const kill = () => {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL')
  }
  let watcher: ReturnType<typeof watch> | undefined
  let timer: NodeJS.Timeout
  let poll: NodeJS.Timeout | undefined
  if ('afterMs' in moment) timer = setTimeout(kill, moment.afterMs)
  else if ('when' in moment) {
    timer = setTimeout(kill, moment.fallbackMs)
    poll = setInterval(() => {
      let now = false
      try {
        now = moment.when()
      } catch {
        // a file renamed away between two looks: not yet
      }
      if (now) kill()
    }, 5)
  } else {
    timer = setTimeout(kill, moment.fallbackMs)
    // Names there already (a killed run's leftovers, which the writer may sweep) are not the moment.
    const before = new Set(existsSync(moment.onChangeIn) ? readdirSync(moment.onChangeIn) : [])
    watcher = watch(moment.onChangeIn, (_, name) => {
      if (name && (!moment.match.test(String(name)) || before.has(String(name)))) return
      watcher?.close()
      watcher = undefined
      if (moment.delayMs <= 0) kill()
      else setTimeout(kill, moment.delayMs)
    })
  }
  const f = await r.done
  clearTimeout(timer)
  clearInterval(poll)
  watcher?.close()
  return { ...f, killed: f.signal === 'SIGKILL' }
}

/**
 * A kill moment drawn at random: half over the later part of a run (start-up takes most of it), half
 * at the moment a name matching `match` appears in `dir` (the writer's temporary file).
 */
export function randomMoment(
  random: () => number,
  i: number,
  runMs: number,
  dir: string,
  match: RegExp,
): KillMoment {
  if (i % 2 === 0) return { afterMs: Math.floor(runMs * (0.3 + 0.9 * random())) }
  return { onChangeIn: dir, match, delayMs: Math.floor(random() * 3), fallbackMs: Math.ceil(runMs * 2) }
}

/** The bytes of `file`, or undefined when it does not exist. */
export function bytesOf(file: string): Buffer | undefined {
  return existsSync(file) ? readFileSync(file) : undefined
}

/** Names in `dir` that look like a writer's leftovers (temporary, partial, incomplete files). */
export function leftovers(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).filter((f) => /\.(tmp|partial|incomplete)$|\.tmp-/.test(f))
}

/** Describes `got` against the references, for a failure message. */
export function describeBytes(got: Buffer | undefined, refs: Record<string, Buffer | undefined>): string {
  if (got === undefined) return 'absent'
  for (const [name, ref] of Object.entries(refs)) if (ref?.equals(got)) return name
  return `${got.length} bytes matching no reference`
}

export const here = (...p: string[]) => path.join(ROOT, 'test', 'hostile', ...p)

export interface Writer {
  label: string
  /** The command line writing `out`. */
  args(out: string): string[]
  script?: string
  /** The writer's temporary file (default: writeFileAtomic's `.<name>.<pid>.<random>.tmp`). */
  temp?: RegExp
  env?: NodeJS.ProcessEnv
  /** The destination's extension (default .out). */
  ext?: string
  /** Kills (default KILLS). */
  kills?: number
}

/**
 * The kill loop: `old` is put in place before each run; after the kill the destination must be
 * `old` or the reference an unkilled run wrote.
 */
export async function killLoop(w: Writer, old: Buffer, seed: number): Promise<void> {
  const dir = makeTempDir('kiln-hostile-')
  const refFile = path.join(dir, `reference${w.ext ?? '.out'}`)
  const first = await run(w.args(refFile), w.env, w.script)
  expect(first.status, first.stderr).toBe(0)
  const reference = readFileSync(refFile)
  expect(reference.equals(old)).toBe(false)
  const dest = path.join(dir, `model${w.ext ?? '.out'}`)
  const random = rng(seed)
  const seen = { old: 0, new: 0, tmp: 0 }
  const kills = w.kills ?? KILLS
  for (let i = 0; i < kills; i++) {
    writeFileSync(dest, old)
    const r = await killAt(
      w.args(dest),
      w.env ?? {},
      randomMoment(random, i, first.ms, dir, w.temp ?? /\.tmp$/),
      w.script,
    )
    if (!r.killed) expect(r.status, r.stderr).toBe(0)
    const what = describeBytes(bytesOf(dest), { old, new: reference })
    expect(['old', 'new'], `${w.label}, kill ${i} (${r.killed ? 'killed' : 'finished'})`).toContain(what)
    seen[what as 'old' | 'new']++
    if (leftovers(dir).length > 0) seen.tmp++
  }
  console.log(
    `${w.label}: ${kills} kills; old file kept ${seen.old}, new file ${seen.new}, ` +
      `a temporary file left after ${seen.tmp}`,
  )
  // The next run recovers: the new file in place, and no temporary file of a killed run left.
  writeFileSync(dest, old)
  const last = await run(w.args(dest), w.env, w.script)
  expect(last.status, last.stderr).toBe(0)
  expect(readFileSync(dest).equals(reference)).toBe(true)
  expect(leftovers(dir)).toEqual([])
}
