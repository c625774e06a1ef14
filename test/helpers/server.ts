// Real kiln servers for the server tests: buildServer over a loaded model and its scheduler (or an
// encoder and its batcher), listening on a free port of 127.0.0.1, with an `openai` client pointed
// at it; and `kiln serve` as a child process whose JSON events are read line by line.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import OpenAI from 'openai'
import { defaultModelPath } from '../../src/core/default-model.js'
import { type EncoderModel, loadEncoder } from '../../src/core/runtime/encoder.js'
import { EncoderBatcher } from '../../src/core/runtime/encoder-batcher.js'
import { loadModel, type Model } from '../../src/core/runtime/model.js'
import { Scheduler } from '../../src/core/runtime/scheduler.js'
import { buildServer, type CommonServerOptions } from '../../src/server/app.js'
import { BIN, makeTempDir, ROOT } from './cli.js'

export interface TestServer {
  url: string
  model: Model
  scheduler: Scheduler
  app: ReturnType<typeof buildServer>
  /** The official client, no retries (a 429 must reach the test). */
  client: OpenAI
  /** fetch() against the server (path from the root: /health, /v1/models). */
  fetch(pathname: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

export interface TestServerOptions extends Partial<CommonServerOptions> {
  modelPath?: string
  maxSeqs?: number
  contextLength?: number
  /** Named LoRA adapters (loadModel's adapters), served as models of their own. */
  adapters?: Record<string, string>
}

/** The served name tests use. */
export const SERVED = 'kiln-test'

export async function startServer(opts: TestServerOptions = {}): Promise<TestServer> {
  // One thread: vitest runs two test files at once on a two-core machine.
  const model = loadModel(opts.modelPath ?? defaultModelPath(), {
    threads: 1,
    contextLength: opts.contextLength,
    adapters: opts.adapters,
  })
  const scheduler = new Scheduler(model, { maxSeqs: opts.maxSeqs ?? 8, contextLength: opts.contextLength })
  const app = buildServer({ servedModelName: SERVED, ...opts, model, scheduler })
  return {
    ...(await listen(app, opts.apiKey)),
    model,
    scheduler,
    async close() {
      await app.close()
      await scheduler.close() // resolves once the step in flight has returned the model
      model.dispose()
    },
  }
}

export interface TestEncoderServer extends Omit<TestServer, 'model' | 'scheduler'> {
  model: EncoderModel
  encoder: EncoderBatcher
}

/** An encoder model folder served (embeddings, /classify), one thread, as kiln serve -m would. */
export async function startEncoderServer(
  modelPath: string,
  opts: Partial<CommonServerOptions> & { maxInputs?: number; maxInputTokens?: number } = {},
): Promise<TestEncoderServer> {
  const model = loadEncoder(modelPath, { threads: 1 })
  const encoder = new EncoderBatcher(model, { maxInputs: opts.maxInputs, maxQueue: opts.maxQueue })
  const app = buildServer({ servedModelName: SERVED, ...opts, encoder })
  return {
    ...(await listen(app, opts.apiKey)),
    model,
    encoder,
    async close() {
      await app.close()
      await encoder.close() // resolves once the pass in flight has returned the model
      model.dispose()
    },
  }
}

async function listen(app: ReturnType<typeof buildServer>, apiKey?: string) {
  await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: apiKey ?? 'unused', maxRetries: 0 })
  return {
    url,
    app,
    client,
    fetch: (pathname: string, init?: RequestInit) => fetch(`${url}${pathname}`, init),
  }
}

/** POST with a JSON body (or the raw text given), as a client other than openai's would send it. */
export function postJson(
  server: Pick<TestServer, 'fetch'>,
  pathname: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  return server.fetch(pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/** A metric's value in /metrics text (the sum over its label sets). */
export async function metric(server: Pick<TestServer, 'fetch'>, name: string, labels = ''): Promise<number> {
  const text = await (await server.fetch('/metrics')).text()
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    if (labels && !line.includes(labels)) continue
    sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
export async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() > until) return false
    await new Promise((r) => setTimeout(r, 20))
  }
}

export interface ServeProcess {
  child: ChildProcessWithoutNullStreams
  /** stdout lines so far. */
  lines: string[]
  /** Those lines as JSON events (--json). */
  events(): Record<string, unknown>[]
  stderr(): string
  /** The URL it listens on: the ready event's (--json) or the one the text line names. */
  ready: Promise<string>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/**
 * `kiln serve …` as its own process (bin/run.js, as a user runs it), with settings of its own;
 * `extraEnv` is laid over its environment last (KILN_SERVE_* variables, PATH).
 */
export function spawnServe(args: string[], extraEnv: NodeJS.ProcessEnv = {}): ServeProcess {
  const home = makeTempDir('kiln-serve-')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NO_COLOR: '1',
    KILN_CONFIG: path.join(home, 'config.yaml'),
    HF_HOME: path.join(home, 'hf'),
  }
  for (const k of Object.keys(env)) if (k.startsWith('KILN_SERVE_') || k === 'KILN_DEBUG') delete env[k]
  Object.assign(env, extraEnv)
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env })
  const lines: string[] = []
  let err = ''
  let pending = ''
  let onReady: (url: string) => void
  let onFail: (e: Error) => void
  const ready = new Promise<string>((res, rej) => {
    onReady = res
    onFail = rej
  })
  ready.catch(() => {}) // a test of a failing start awaits the exit instead
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8')
    const complete = pending.split('\n')
    pending = complete.pop() ?? ''
    for (const line of complete) {
      lines.push(line)
      const url = line.startsWith('{')
        ? (JSON.parse(line) as { event?: string; url?: string }).url
        : /listening on (\S+)/.exec(line)?.[1]
      if (url) onReady(url)
    }
  })
  child.stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8')
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('close', (code, signal) => {
      onFail(new Error(`kiln serve exited (${code ?? signal}) before it was ready: ${err}`))
      res({ code, signal })
    }),
  )
  return {
    child,
    lines,
    events: () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>),
    stderr: () => err,
    ready,
    exited,
  }
}
