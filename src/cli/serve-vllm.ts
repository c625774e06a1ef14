// kiln serve --engine vllm: the model, address, key, context, name and chat template that kiln's own
// engine would serve, handed to vLLM's OpenAI server (`vllm serve`) for GPU fleets. kiln resolves
// MODEL as it does for itself, starts vLLM, waits for its /health, prints the ready line its own
// engine prints, forwards SIGTERM/SIGINT and exits with vLLM's status.
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { execa } from 'execa'
import { defaultModelPath } from '../core/default-model.js'
import { FormatError, KilnError, UsageError } from '../core/errors.js'
import type { HubOptions } from '../core/hub/config.js'
import { findExecutable } from '../core/util/executable.js'
import { fetchModel } from './fetch-model.js'
import { cliIo } from './io.js'
import { isLoopback, LISTEN_ERRORS, SIGNAL_EXIT, servedName, type VllmServeReport } from './serve.js'
import { type AdapterSpecs, fetchAdapters } from './serve-adapters.js'

export interface VllmServeInput {
  model?: string
  host: string
  port: number
  apiKey?: string
  servedModelName?: string
  context?: number
  /** Only when given (flag, env or settings file): otherwise vLLM's own default, sized for GPUs. */
  maxSeqs?: number
  /** Only when given: vLLM turns prefix caching on by itself. */
  prefixCache?: boolean
  dtype?: 'auto' | 'f32' | 'f16' | 'bf16'
  chatTemplate?: string
  /** Seconds vLLM gets to stop after the first signal before kiln kills it. */
  gracePeriod: number
  /** LoRA adapters by the name requests use (vLLM's --lora-modules). */
  adapters: AdapterSpecs
  /** The command line's flags, to refuse the kiln-engine ones that vLLM has no equivalent for. */
  flags: Record<string, unknown>
  hub?: HubOptions
  json: boolean
  quiet: boolean
}

/** Flags of kiln's engine that mean nothing to vLLM, and why. */
const KILN_ONLY: Record<string, string> = {
  'kv-blocks': 'vLLM sizes its KV cache from the GPU memory it may use',
  'kv-memory': 'vLLM sizes its KV cache from the GPU memory it may use (its --gpu-memory-utilization)',
  'max-queue': 'vLLM queues without a limit',
  threads: "vLLM computes on the GPU, not in kiln's CPU threads",
}

/** kiln's dtype names as vLLM's --dtype takes them (auto: as stored, vLLM's default too). */
const VLLM_DTYPE = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' } as const

const HEALTH_POLL_MS = 250

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms))

export async function runVllm(input: VllmServeInput): Promise<VllmServeReport> {
  refuseKilnOnly(input.flags)
  const arg = input.model ?? defaultModelPath()
  // Before anything is fetched or started: neither would help.
  if (isGguf(arg))
    throw new UsageError(
      `${arg}: vLLM's GGUF support is experimental and needs the base model's tokenizer; give the original model folder or repo id`,
    )
  const vllm = findExecutable('vllm')
  if (!vllm)
    throw new KilnError(
      'E_NO_VLLM',
      'no vllm executable on PATH: install vLLM (pip install vllm) where kiln runs, or serve with --engine kiln',
    )
  const template = input.chatTemplate === undefined ? undefined : readableFile(input.chatTemplate)
  // A repo id goes through kiln's own fetch into the shared Hugging Face cache, and vLLM is given
  // the snapshot folder rather than the id: it then serves exactly the revision kiln resolved (and
  // would serve with its own engine), never downloads a second copy (it prefers .bin or other files
  // when it resolves a repo itself), and needs neither network nor token, which kiln's hub settings
  // (hub.token, hub.offline, hub.endpoint) already took care of.
  const modelPath = input.model === undefined ? arg : await fetchModel(input.model, input.hub)
  if (!existsSync(modelPath)) throw new FormatError(`${modelPath}: no such model folder or file`)
  if (isGguf(modelPath))
    throw new UsageError(
      `${input.model}: vLLM's GGUF support is experimental and needs the base model's tokenizer; give the original model folder or repo id`,
    )
  // Adapter repo ids too: vLLM gets the snapshot folders kiln resolved.
  const adapters = await fetchAdapters(input.adapters, input.hub)
  const port = await freePort(input.host, input.port)
  const name = input.servedModelName ?? servedName(input.model)
  const args = vllmArgs({ ...input, port, chatTemplate: template, adapters }, path.resolve(modelPath), name)
  return supervise(vllm, args, { ...input, port }, name)
}

function refuseKilnOnly(flags: Record<string, unknown>): void {
  const given = Object.keys(KILN_ONLY).filter((f) => flags[f] !== undefined)
  if (flags.device === 'cpu') {
    throw new UsageError(
      '--device cpu: vLLM runs on the device it was installed for; serve on the CPU with --engine kiln',
    )
  }
  if (given.length > 0) {
    const why = given.map((f) => `--${f}: ${KILN_ONLY[f]}`).join('; ')
    throw new UsageError(`--engine vllm has no equivalent for kiln's ${why}; leave it out`)
  }
}

/** A GGUF file: by name (a repo file to be fetched too), or by its magic bytes. */
function isGguf(model: string): boolean {
  if (/\.gguf$/i.test(model)) return true
  try {
    if (!statSync(model).isFile()) return false
    const fd = openSync(model, 'r')
    try {
      const magic = Buffer.alloc(4)
      return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === 'GGUF'
    } finally {
      closeSync(fd)
    }
  } catch {
    return false
  }
}

function readableFile(file: string): string {
  try {
    accessSync(file, constants.R_OK)
  } catch (e) {
    throw new UsageError(`--chat-template ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  return path.resolve(file)
}

/**
 * The port vLLM is to listen on, checked free now so that a port in use is refused in kiln's words
 * (and the /health kiln polls is vLLM's, not another server's); 0 picks one, since kiln must know it.
 */
function freePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', (e: NodeJS.ErrnoException) => {
      const why = LISTEN_ERRORS[e.code ?? ''] ?? e.message
      reject(new KilnError('E_LISTEN', `cannot listen on ${host}:${port}: ${why}`))
    })
    probe.listen({ host, port }, () => {
      const { port: chosen } = probe.address() as net.AddressInfo
      probe.close(() => resolve(chosen))
    })
  })
}

/** `vllm serve …`'s arguments. The API key is not among them: it goes by VLLM_API_KEY. */
function vllmArgs(
  input: Pick<
    VllmServeInput,
    'host' | 'port' | 'context' | 'maxSeqs' | 'prefixCache' | 'dtype' | 'chatTemplate' | 'adapters'
  >,
  model: string,
  name: string,
): string[] {
  const args = ['serve', model, '--host', input.host, '--port', String(input.port)]
  // Always named, so that clients send the same `model` whichever engine serves it.
  args.push('--served-model-name', name)
  if (input.context !== undefined) args.push('--max-model-len', String(input.context))
  if (input.maxSeqs !== undefined) args.push('--max-num-seqs', String(input.maxSeqs))
  if (input.prefixCache !== undefined)
    args.push(input.prefixCache ? '--enable-prefix-caching' : '--no-enable-prefix-caching')
  if (input.dtype !== undefined && input.dtype !== 'auto') args.push('--dtype', VLLM_DTYPE[input.dtype])
  if (input.chatTemplate !== undefined) args.push('--chat-template', input.chatTemplate)
  const adapters = Object.entries(input.adapters)
  if (adapters.length > 0) {
    args.push('--enable-lora', '--max-loras', String(adapters.length))
    // vLLM refuses adapters above --max-lora-rank (its default is 16).
    args.push('--max-lora-rank', String(Math.max(16, ...adapters.map(([, dir]) => adapterRank(dir)))))
    args.push('--lora-modules', ...adapters.map(([name, dir]) => `${name}=${path.resolve(dir)}`))
  }
  return args
}

/** An adapter's rank r from its adapter_config.json (0 when unreadable: vLLM then says why). */
function adapterRank(dir: string): number {
  try {
    const r = JSON.parse(readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).r
    return Number.isInteger(r) && r > 0 ? r : 0
  } catch {
    return 0
  }
}

/** The exit status a shell would report for a process that ended with `code` or by `signal`. */
function exitStatus(code: number | undefined, signal: string | undefined): number {
  if (code !== undefined) return code
  const n = signal ? os.constants.signals[signal as keyof typeof os.constants.signals] : undefined
  return n === undefined ? 1 : 128 + n
}

async function supervise(
  vllm: string,
  args: string[],
  input: VllmServeInput,
  name: string,
): Promise<VllmServeReport> {
  const io = cliIo()
  const child = execa(vllm, args, {
    // The key stays out of argv, and so out of the process list.
    env: input.apiKey === undefined ? {} : { VLLM_API_KEY: input.apiKey },
    stdin: 'ignore',
    // vLLM logs for days: relayed as it comes, never kept (but for the last lines).
    buffer: false,
    reject: false,
    // Its own process group: a terminal's Ctrl-C reaches kiln alone, which forwards it once (vLLM
    // takes a second SIGINT as "stop now"), and kiln can kill vLLM's engine processes with it.
    detached: true,
    cleanup: false,
    // kiln decides when to give up on a stopping vLLM: after --grace-period.
    forceKillAfterDelay: false,
  })
  // vLLM logs on stdout and tracebacks on stderr: both go to kiln's stderr, since with --json
  // kiln's stdout carries its events alone.
  const tail = new OutputTail()
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (chunk: Buffer) => {
      tail.push(chunk)
      if (!input.quiet) io.stderr.write(chunk)
    })
  }
  let done = false
  const exited = child.then((r) => {
    done = true
    return r
  })

  // The whole group: vLLM's engine processes too, which hold the GPU's memory. Also once vLLM itself
  // has exited, in case it left any of them behind (no such group left: ESRCH, ignored).
  const killGroup = () => {
    if (child.pid === undefined) return
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {}
  }
  let stopping: NodeJS.Signals | undefined
  let killed = false
  let grace: NodeJS.Timeout | undefined
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      killGroup()
      process.exit(SIGNAL_EXIT[sig] ?? 1)
    }
    stopping = sig
    child.kill(sig)
    grace = setTimeout(() => {
      killed = true
      killGroup()
    }, input.gracePeriod * 1000)
  }
  // kiln ending any other way must not leave a GPU server behind.
  const onExit = () => killGroup()
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.on('exit', onExit)
  try {
    const url = `http://${input.host.includes(':') ? `[${input.host}]` : input.host}:${input.port}`
    const local = probeBase(input.host, input.port)
    const healthy = await waitForHealth(local, () => done || stopping !== undefined)
    if (healthy) {
      if (!input.apiKey && !isLoopback(input.host))
        io.stderr.write(
          `kiln serve: warning: no API key, and ${input.host} is reachable from other machines: anyone who can reach it can use the model (set --api-key or KILN_SERVE_API_KEY)\n`,
        )
      const maxModelLen = await servedContext(local, input.apiKey)
      io.stdout.write(
        input.json
          ? `${JSON.stringify({ event: 'ready', url, model: name, max_model_len: maxModelLen ?? input.context ?? null, engine: 'vllm' })}\n`
          : `kiln serve: listening on ${url} (model ${name})\n`,
      )
    }
    const result = await exited
    if (result.exitCode === undefined && result.signal === undefined)
      throw new KilnError('E_VLLM_START', `cannot start ${vllm}: ${result.shortMessage ?? result.message}`)
    const status = exitStatus(result.exitCode, result.signal)
    if (!healthy && !stopping) {
      const how =
        result.signal === undefined ? `with code ${status}` : `by ${result.signal} (status ${status})`
      const last = tail.lines()
      throw new KilnError(
        'E_VLLM_EXIT',
        `vllm exited ${how} before it was ready${last.length ? `; its last output: ${last.join(' | ')}` : ''}`,
        status || 1,
      )
    }
    return { engine: 'vllm', url, model: name, signal: stopping ?? null, exitCode: status, killed }
  } finally {
    clearTimeout(grace)
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    process.off('exit', onExit)
    killGroup()
  }
}

/** The last lines a process wrote (both streams, as they came), for an error line. */
class OutputTail {
  private readonly kept: string[] = []
  private pending = ''

  constructor(private readonly max = 5) {}

  push(chunk: Buffer): void {
    const parts = (this.pending + chunk.toString('utf8')).split(/\r?\n/)
    this.pending = parts.pop() ?? ''
    for (const line of parts) this.keep(line)
  }

  lines(): string[] {
    if (this.pending) this.keep(this.pending)
    this.pending = ''
    return [...this.kept]
  }

  private keep(line: string): void {
    // Colour codes and long lines would make the one error line unreadable.
    const text = line.replace(/\x1b\[[0-9;]*m/g, '').trim()
    if (!text) return
    this.kept.push(text.length > 300 ? `${text.slice(0, 300)}…` : text)
    if (this.kept.length > this.max) this.kept.shift()
  }
}

/** Where kiln reaches vLLM itself: a wildcard address is reached through loopback. */
function probeBase(host: string, port: number): string {
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${local.includes(':') ? `[${local}]` : local}:${port}`
}

/** Polls /health until it answers 200 (true), or `stop()` holds (false). Loading may take minutes. */
async function waitForHealth(base: string, stop: () => boolean): Promise<boolean> {
  while (!stop()) {
    try {
      const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(2000) })
      await r.body?.cancel()
      if (r.status === 200) return !stop()
    } catch {} // not listening yet
    await sleep(HEALTH_POLL_MS)
  }
  return false
}

/** The context vLLM settled on (its /v1/models says, as kiln's does), for the ready event. */
async function servedContext(base: string, apiKey: string | undefined): Promise<number | undefined> {
  try {
    const r = await fetch(`${base}/v1/models`, {
      headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` },
      signal: AbortSignal.timeout(5000),
    })
    const body = (await r.json()) as { data?: { max_model_len?: unknown }[] }
    const n = body.data?.[0]?.max_model_len
    return typeof n === 'number' ? n : undefined
  } catch {
    return undefined
  }
}
