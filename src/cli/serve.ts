// What `kiln serve` does between parsing flags and printing: load the model, put a scheduler and the
// HTTP server over it, listen, print where, log each request, and on SIGTERM/SIGINT drain (health
// 503, no new work, running requests finish within the grace period) and stop. The engine and the
// server are imported when it runs, so that loading the command to parse its flags stays cheap.
import { existsSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { defaultModelPath } from '../core/default-model.js'
import { KilnError, UsageError } from '../core/errors.js'
import type { HubOptions } from '../core/hub/config.js'
import type { RequestSummary } from '../server/app.js'
import { fetchModel } from './fetch-model.js'
import { cliIo } from './io.js'
import type { Rendering } from './render.js'
import { type AdapterSpecs, fetchAdapters } from './serve-adapters.js'

export interface ServeInput {
  model?: string
  host: string
  port: number
  apiKey?: string
  servedModelName?: string
  context?: number
  maxSeqs: number
  maxQueue: number
  /** KV cache blocks (default: every sequence its whole context). */
  kvBlocks?: number
  /** KV cache bytes instead (as many whole blocks as fit). */
  kvMemory?: number
  prefixCache: boolean
  threads?: number
  dtype?: 'auto' | 'f32' | 'f16' | 'bf16'
  /** A Jinja file replacing the model's chat template. */
  chatTemplate?: string
  /** Seconds running requests get after the first signal. */
  gracePeriod: number
  /** LoRA adapters served beside the model: name → folder or repo id. */
  adapters: AdapterSpecs
  hub?: HubOptions
  json: boolean
  quiet: boolean
}

/** What kiln's own engine reports when it stops. */
export interface KilnServeReport {
  engine?: undefined
  url: string
  model: string
  signal: NodeJS.Signals
  requests: number
  /** False when the grace period ran out and the requests still running were cancelled. */
  drained: boolean
}

/** What `--engine vllm` reports once vLLM has exited (src/cli/serve-vllm.ts). */
export interface VllmServeReport {
  engine: 'vllm'
  url: string
  model: string
  /** The signal kiln forwarded to vLLM; null when vLLM exited on its own. */
  signal: NodeJS.Signals | null
  /** vLLM's exit status (128 + n when signal n ended it), which is kiln's own. */
  exitCode: number
  /** True when vLLM outlived the grace period after the signal and kiln killed it. */
  killed: boolean
}

export type ServeReport = KilnServeReport | VllmServeReport

/** The name clients use: a repo id as given, a local model by its folder (or file) name. */
export function servedName(model: string | undefined): string {
  if (model === undefined) return 'kiln-default'
  return existsSync(model) ? path.basename(path.resolve(model)) : model
}

function readTemplate(file: string | undefined): string | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`--chat-template ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
}

export const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\./.test(host)

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms).unref())

export const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is in use (another server?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
  ENOTFOUND: 'no such host',
}

/** Exit statuses of a process ended by a signal, as shells report them (128 + its number). */
export const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }

export async function runServe(input: ServeInput): Promise<KilnServeReport> {
  const template = readTemplate(input.chatTemplate)
  const modelPath = input.model ? await fetchModel(input.model, input.hub) : defaultModelPath()
  const adapters = await fetchAdapters(input.adapters, input.hub)
  const [{ openServeEngine }, { buildServer }] = await Promise.all([
    import('./serve-engine.js'),
    import('../server/app.js'),
  ])
  const engine = await openServeEngine(modelPath, { ...input, adapters })
  const io = cliIo()
  const name = input.servedModelName ?? servedName(input.model)
  let requests = 0
  const log = (summary: RequestSummary) => {
    requests++
    if (input.json) io.stdout.write(`${JSON.stringify(requestEvent(summary))}\n`)
    else if (!input.quiet) io.stderr.write(requestLine(summary))
  }
  let app: ReturnType<typeof buildServer> | undefined
  try {
    try {
      app = buildServer({
        ...engine.serving,
        servedModelName: name,
        apiKey: input.apiKey,
        chatTemplate: template,
        maxQueue: input.maxQueue,
        onRequestDone: log,
        onInternalError: (err) =>
          io.stderr.write(`kiln serve: internal error: ${(err as Error)?.stack ?? err}\n`),
      })
    } catch (e) {
      if (template !== undefined && e instanceof KilnError)
        throw new UsageError(`--chat-template ${input.chatTemplate}: ${e.message}`)
      throw e
    }
    try {
      await app.listen({ host: input.host, port: input.port })
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? ''
      const why = LISTEN_ERRORS[code] ?? (e as Error).message
      throw new KilnError('E_LISTEN', `cannot listen on ${input.host}:${input.port}: ${why}`)
    }
    const server = app
    const { port } = server.server.address() as AddressInfo
    const url = `http://${input.host.includes(':') ? `[${input.host}]` : input.host}:${port}`
    if (!input.apiKey && !isLoopback(input.host))
      io.stderr.write(
        `kiln serve: warning: no API key, and ${input.host} is reachable from other machines: anyone who can reach it can use the model (set --api-key or KILN_SERVE_API_KEY)\n`,
      )
    io.stdout.write(
      input.json
        ? `${JSON.stringify({ event: 'ready', url, model: name, max_model_len: engine.maxModelLen })}\n`
        : `kiln serve: listening on ${url} (model ${name}${engine.kind === 'encoder' ? ', an encoder' : ''})\n`,
    )

    const signal = await firstSignal()
    server.kiln.startDraining()
    let drained = false
    await Promise.race([engine.drain().then(() => (drained = true)), sleep(input.gracePeriod * 1000)])
    void engine.close() // cancels what the grace period did not see finish
    return { url, model: name, signal, requests, drained }
  } finally {
    removeSignalHandlers()
    // Resolves once the step in flight (if any) has returned the model.
    const released = engine.close()
    // Responses still being written end quickly now; a connection stuck mid-request is cut.
    const closing = app?.close()
    if (closing) await Promise.race([closing, sleep(5000).then(() => app?.server.closeAllConnections())])
    // A step cannot outlive its graph: dispose only once it has returned.
    if (await Promise.race([released.then(() => true), sleep(10_000).then(() => false)])) engine.dispose()
  }
}

let stopHandlers: (() => void) | undefined

/** Resolves on the first SIGTERM or SIGINT; a second one ends the process at once. */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false
    const onSignal = (sig: NodeJS.Signals) => {
      if (received) process.exit(SIGNAL_EXIT[sig] ?? 1)
      received = true
      resolve(sig)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    stopHandlers = () => {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
    }
  })
}

function removeSignalHandlers(): void {
  stopHandlers?.()
  stopHandlers = undefined
}

function requestEvent(s: RequestSummary): Record<string, unknown> {
  return {
    event: 'request',
    method: s.method,
    path: s.path,
    status: s.status,
    ms: Math.round(s.ms * 10) / 10,
    ...(s.promptTokens === undefined
      ? {}
      : {
          prompt_tokens: s.promptTokens,
          completion_tokens: s.completionTokens,
          finish_reasons: s.finishReasons,
        }),
  }
}

function requestLine(s: RequestSummary): string {
  const tokens =
    s.promptTokens === undefined
      ? ''
      : s.completionTokens === undefined
        ? ` · ${s.promptTokens} input tokens`
        : ` · ${s.promptTokens} prompt + ${s.completionTokens} completion tokens (${s.finishReasons?.join(', ')})`
  return `${s.method} ${s.path} ${s.status} ${s.ms.toFixed(0)} ms${tokens}\n`
}

export const serveRendering: Rendering<ServeReport> = {
  jsonLines: (r) => [
    r.engine === 'vllm'
      ? { event: 'shutdown', engine: 'vllm', signal: r.signal, exit_code: r.exitCode, killed: r.killed }
      : { event: 'shutdown', signal: r.signal, requests: r.requests, drained: r.drained },
  ],
  text(r, { quiet }) {
    if (quiet) return {}
    if (r.engine === 'vllm') {
      const how = r.signal === null ? 'exited' : `stopped on ${r.signal}`
      const rest = r.killed ? '; it outlived the grace period and was killed' : ''
      return { err: `kiln serve: vLLM ${how} with status ${r.exitCode}${rest}\n` }
    }
    const rest = r.drained ? '' : '; the grace period ran out and the requests still running were cancelled'
    return { err: `kiln serve: stopped on ${r.signal} after ${r.requests} requests${rest}\n` }
  },
  // vLLM's status is kiln's: a supervisor (systemd, Kubernetes) sees how the server really ended.
  status: (r) => (r.engine === 'vllm' ? r.exitCode : 0),
}
