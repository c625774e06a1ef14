// Where kiln talks to and caches in: options the caller gives win (the CLI resolves them from its
// flags and settings), then the HF_* environment variables Python's huggingface_hub reads, then the
// same defaults it uses.
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Where repo ids are fetched from; each one left out comes from the environment, then the default. */
export interface HubOptions {
  endpoint?: string
  cacheDir?: string
  token?: string
  offline?: boolean
}

export interface HubConfig {
  endpoint: string
  /** The hub cache folder (`HF_HUB_CACHE`, default `$HF_HOME/hub`). */
  cacheDir: string
  token?: string
  offline: boolean
  /** A transfer that receives nothing for this long is aborted and resumed. */
  stallTimeoutMs: number
  /** Consecutive failed attempts (without progress) allowed per file. */
  retries: number
  /** First backoff delay; doubled per failed attempt, capped at 10 s. */
  retryBaseMs: number
  /** One API answer (revision, a tree page), headers and body, must come within this time. */
  apiTimeoutMs: number
}

const TRUE = new Set(['1', 'on', 'yes', 'true'])

function envInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name]
  if (v === undefined || v.trim() === '') return fallback
  const n = Number(v)
  return Number.isFinite(n) && n >= 0 ? n : fallback
}

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HOME) return env.HF_HOME
  const xdg = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(xdg, 'huggingface')
}

function readTokenFile(env: NodeJS.ProcessEnv): string | undefined {
  const file = env.HF_TOKEN_PATH || path.join(hfHome(env), 'token')
  try {
    const t = readFileSync(file, 'utf8').trim()
    return t || undefined
  } catch {
    return undefined
  }
}

/**
 * As Python's huggingface_hub cleans a token: line breaks removed, blanks trimmed. A token pasted
 * from a Windows file (`hf_…\r`) otherwise reaches the Authorization header, which Node refuses with
 * an internal error.
 */
function cleanToken(token: string | undefined): string | undefined {
  return token?.replace(/[\r\n]/g, '').trim() || undefined
}

export function resolveHubConfig(options: HubOptions = {}, env: NodeJS.ProcessEnv = process.env): HubConfig {
  const endpoint = (options.endpoint || env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '')
  const cacheDir =
    options.cacheDir || env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || path.join(hfHome(env), 'hub')
  const token = cleanToken(options.token || env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || readTokenFile(env))
  const offline = options.offline ?? TRUE.has((env.HF_HUB_OFFLINE ?? '').toLowerCase())
  return {
    endpoint,
    cacheDir: path.resolve(cacheDir),
    token,
    offline,
    // Knobs for slow links and for the tests' fault injection; the defaults suit the real Hub.
    stallTimeoutMs: envInt(env, 'KILN_HUB_STALL_TIMEOUT_MS', 30_000),
    retries: envInt(env, 'KILN_HUB_RETRIES', 5),
    retryBaseMs: envInt(env, 'KILN_HUB_RETRY_BASE_MS', 500),
    apiTimeoutMs: envInt(env, 'KILN_HUB_API_TIMEOUT_MS', 60_000) || 60_000,
  }
}
