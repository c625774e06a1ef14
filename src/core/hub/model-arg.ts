// MODEL (and --adapter) arguments of the commands: a local path is used
// as is; `org/name[@rev]` is resolved through the Hub cache, fetching on first use only the files a
// model needs; `org/name[@rev]/path/to/file.gguf` fetches that one GGUF file and returns its path.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { renderOptions } from '../errors.js'
import { type HubOptions, resolveHubConfig } from './config.js'
import type { DownloadResult } from './download.js'
import { HubError } from './errors.js'
import type { DownloadListener } from './events.js'
import { looksLikeRepoId } from './repo-id.js'

/** Files a model folder needs; everything else in the repo (other formats, images, docs) is skipped. */
const MODEL_FILES = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'chat_template.jinja',
  'model.safetensors.index.json',
  // sentence-transformers: the module list, its settings, and prompts
  'modules.json',
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
])

/** A sentence-transformers Pooling module's settings (`1_Pooling/config.json`). */
const POOLING_CONFIG = /^\d+_Pooling\/config\.json$/

export function isModelFile(p: string): boolean {
  if (POOLING_CONFIG.test(p)) return true
  return !p.includes('/') && (MODEL_FILES.has(p) || p.endsWith('.safetensors'))
}

export interface ModelRef {
  repo: string
  /** A single file inside the repo (a GGUF), when the argument names one. */
  file?: string
}

/** Splits `org/name[@rev][/file.gguf]`; undefined when `arg` is not shaped like a repo id. */
export function parseModelArg(arg: string): ModelRef | undefined {
  if (arg.startsWith('.') || arg.startsWith('/') || arg.startsWith('~') || arg.includes('\\'))
    return undefined
  const parts = arg.split('/')
  if (parts.length > 2 && arg.toLowerCase().endsWith('.gguf')) {
    const repo = parts.slice(0, 2).join('/')
    return looksLikeRepoId(repo) ? { repo, file: parts.slice(2).join('/') } : undefined
  }
  return looksLikeRepoId(arg) ? { repo: arg } : undefined
}

/** True when `arg` would be fetched from the Hub rather than read from disk. */
export function isHubModelArg(arg: string): boolean {
  return !existsSync(arg) && parseModelArg(arg) !== undefined
}

/**
 * The local path MODEL stands for: `arg` itself when it exists, else the cached snapshot (or GGUF
 * file) of the repo id it names, fetched on first use. `onEvent` sees the download's progress, and a
 * warning when the network is down and the cached copy is used instead.
 */
export async function resolveModelArg(
  arg: string,
  hub: HubOptions = {},
  onEvent: DownloadListener = () => {},
): Promise<string> {
  return resolveRepoArg(arg, hub, onEvent, {
    select: isModelFile,
    marker: 'config.json',
    what: 'not a transformers model folder',
  })
}

/** Files a PEFT adapter repo holds that kiln reads. */
const ADAPTER_FILES = new Set(['adapter_config.json', 'adapter_model.safetensors'])

/** The local folder an --adapter argument stands for: as resolveModelArg, for a PEFT adapter repo. */
export async function resolveAdapterArg(
  arg: string,
  hub: HubOptions = {},
  onEvent: DownloadListener = () => {},
): Promise<string> {
  return resolveRepoArg(arg, hub, onEvent, {
    select: (p) => ADAPTER_FILES.has(p),
    marker: 'adapter_config.json',
    what: 'not a PEFT adapter',
  })
}

interface RepoKind {
  /** Which of the repo's files to fetch. */
  select: (path: string) => boolean
  /** The file a repo of this kind must have. */
  marker: string
  /** What a repo without the marker is not. */
  what: string
}

async function resolveRepoArg(
  arg: string,
  hub: HubOptions,
  onEvent: DownloadListener,
  kind: RepoKind,
): Promise<string> {
  if (existsSync(arg)) return arg
  const ref = parseModelArg(arg)
  if (!ref) return arg // not a repo id: the loader reports the missing path
  const request = {
    repo: ref.repo,
    hub,
    ...(ref.file ? { files: [ref.file] } : { select: kind.select }),
  }
  // Loaded on demand: a local MODEL should not pay for the Hub client's start-up.
  const { downloadRepo } = await import('./download.js')
  let result: DownloadResult
  try {
    result = await downloadRepo(request, onEvent)
  } catch (e) {
    // Network down: a copy already in the cache is still good to run, as Python falls back to it.
    if (!(e instanceof HubError && e.code === 'E_NETWORK') || resolveHubConfig(hub).offline) throw e
    try {
      result = await downloadRepo({ ...request, hub: { ...hub, offline: true } })
    } catch {
      throw e
    }
    const template = `${e.template}; using the cached copy of ${ref.repo}`
    onEvent({ type: 'warning', message: renderOptions(template, (name) => name), template })
  }
  if (ref.file) return path.join(result.path, ...ref.file.split('/'))
  if (!result.files.some((f) => f.path === kind.marker))
    throw new HubError(
      resolveHubConfig(hub).offline ? 'E_OFFLINE' : 'E_ENTRY_NOT_FOUND',
      `${arg} has no ${kind.marker}${resolveHubConfig(hub).offline ? ' in the cache' : ''}: ${kind.what}`,
    )
  return result.path
}
