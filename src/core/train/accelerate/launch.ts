// Runs `accelerate launch --config_file CFG train.py HPARAMS` with execa: the script's JSON
// event lines go to a callback, every other line (Python's warnings, tracebacks) to another; an
// abort creates the stop file, on which every training process stops after the same step and
// saves; a kiln that ends any other way (a second Ctrl-C) takes the launch's processes with it.
import { rmSync, writeFileSync } from 'node:fs'
import { execa } from 'execa'
import { KilnError, option } from '../../errors.js'
import { findExecutable } from '../../util/executable.js'

export const INSTALL_HINT = 'pip install accelerate transformers peft'

/** The accelerate executable, or a one-line refusal saying how to get it. */
export function requireAccelerate(env: NodeJS.ProcessEnv = process.env): string {
  const found = findExecutable('accelerate', env)
  if (!found)
    throw new KilnError(
      'E_NO_ACCELERATE',
      `no accelerate executable on PATH: install it where kiln runs (${INSTALL_HINT}), or train with ${option('launcher')} kiln`,
    )
  return found
}

export interface LaunchInput {
  accelerate: string
  configFile: string
  script: string
  hparamsFile: string
  /** Created on abort: the script stops after its current step and saves (script.ts). */
  stopFile: string
  cwd: string
  env?: NodeJS.ProcessEnv
  signal?: AbortSignal
  /** A JSON object the script printed on a line of its own ({"event": …}). */
  onEvent: (event: Record<string, unknown>) => void
  /** Any other line, from stdout or stderr. */
  onOutput?: (line: string) => void
}

export interface LaunchResult {
  exitCode?: number
  signal?: string
  /** The last lines the launcher wrote, for an error line. */
  tail: string[]
  /** An abort asked the script to stop. */
  stopped: boolean
}

/**
 * A long option of accelerate's own command line. Not one of kiln's: those core names through
 * option(), and front ends spell them (test/core/boundary.test.ts keeps `--x` out of core's strings).
 */
const accelerateOption = (name: string) => `--${name}`

/** The launcher's arguments: `launch --config_file CFG train.py HPARAMS`. */
export function launchArgs(i: Pick<LaunchInput, 'configFile' | 'script' | 'hparamsFile'>): string[] {
  return ['launch', accelerateOption('config_file'), i.configFile, i.script, i.hparamsFile]
}

export async function launchAccelerate(i: LaunchInput): Promise<LaunchResult> {
  rmSync(i.stopFile, { force: true }) // an earlier run's
  const child = execa(i.accelerate, launchArgs(i), {
    cwd: i.cwd,
    env: { ...(i.env ?? process.env), PYTHONUNBUFFERED: '1' },
    extendEnv: false,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    // Its own process group: a terminal's Ctrl-C reaches kiln alone, not the launcher (torchrun
    // and accelerate's launcher end their workers on SIGINT, before these could save).
    detached: true,
    cleanup: false,
    forceKillAfterDelay: false,
  })
  const tail: string[] = []
  const keep = (line: string) => {
    const text = line.replace(/\x1b\[[0-9;]*m/g, '').trim()
    if (!text) return
    tail.push(text.length > 300 ? `${text.slice(0, 300)}…` : text)
    if (tail.length > 5) tail.shift()
  }
  const lines = (stream: NodeJS.ReadableStream | null | undefined, events: boolean) => {
    let pending = ''
    const line = (text: string) => {
      const event = events ? parseEvent(text) : undefined
      if (event) i.onEvent(event)
      else {
        keep(text)
        if (text.trim() !== '') i.onOutput?.(text)
      }
    }
    stream?.on('data', (chunk: Buffer) => {
      const parts = (pending + chunk.toString('utf8')).split(/\r?\n/)
      pending = parts.pop() ?? ''
      for (const p of parts) line(p)
    })
    stream?.on('end', () => {
      if (pending) line(pending)
      pending = ''
    })
  }
  lines(child.stdout, true)
  lines(child.stderr, false)

  const group = (sig: NodeJS.Signals) => {
    if (child.pid === undefined) return
    try {
      process.kill(-child.pid, sig)
    } catch {} // gone already
  }
  let stopped = false
  const onAbort = () => {
    stopped = true
    try {
      writeFileSync(i.stopFile, 'stop\n')
    } catch {} // OUT gone: the run cannot save anyway
  }
  // kiln ending while training (a second Ctrl-C) must not leave GPU processes behind.
  const onExit = () => group('SIGKILL')
  if (i.signal?.aborted) onAbort()
  else i.signal?.addEventListener('abort', onAbort, { once: true })
  process.on('exit', onExit)
  try {
    const r = await child
    if (r.exitCode === undefined && r.signal === undefined)
      throw new KilnError(
        'E_ACCELERATE_START',
        `cannot start ${i.accelerate}: ${r.shortMessage ?? r.message ?? 'unknown error'}`,
      )
    return { exitCode: r.exitCode, signal: r.signal, tail, stopped }
  } finally {
    i.signal?.removeEventListener('abort', onAbort)
    process.off('exit', onExit)
  }
}

const EVENTS = new Set(['start', 'step', 'eval', 'save', 'done'])

function parseEvent(line: string): Record<string, unknown> | undefined {
  const text = line.trim()
  if (!text.startsWith('{')) return undefined
  try {
    const v = JSON.parse(text) as unknown
    if (v !== null && typeof v === 'object' && EVENTS.has((v as { event?: unknown }).event as string))
      return v as Record<string, unknown>
  } catch {}
  return undefined
}
