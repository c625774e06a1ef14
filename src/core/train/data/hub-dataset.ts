// Training data named by a Hub dataset repo id: `org/name[@rev]` (its train split),
// `org/name[@rev]:split` or `org/name[@rev]/path/in/repo.jsonl`, resolved to the local files of that
// split through kiln's cache. The repo is listed first and only the split's files are fetched.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { FormatError, renderOptions, UsageError } from '../../errors.js'
import { type HubOptions, resolveHubConfig } from '../../hub/config.js'
import type { DownloadRequest, DownloadResult } from '../../hub/download.js'
import { HubError } from '../../hub/errors.js'
import type { DownloadListener } from '../../hub/events.js'
import { globRegExp } from '../../hub/glob-filter.js'
import { looksLikeRepoId } from '../../hub/repo-id.js'

/** What a dataset argument names. */
export interface DatasetRef {
  /** `org/name`. */
  repo: string
  revision?: string
  /** From `:split`; the train split when neither this nor `file` is given. */
  split?: string
  /** One file of the repo, from `org/name/path/in/repo.jsonl`. */
  file?: string
}

/** A dataset argument resolved to files in the cache. */
export interface HubDataset {
  repo: string
  /** The revision asked for (`main` by default) and the commit it named. */
  revision: string
  commit: string
  /** The split read (undefined when one file was named). */
  split?: string
  /** Repo paths of the files, in reading order (shards one after another). */
  paths: string[]
  /** Their local paths (links into the cache snapshot). */
  files: string[]
  /** `org/name@commit:split` or `org/name@commit/path`: the exact data, as a checkpoint records it. */
  id: string
}

/** The extensions of data files kiln reads from a dataset repo. */
const DATA_EXT = /\.(parquet|jsonl|ndjson|json|txt)$/i
const SPLIT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/
/** The split names the datasets library recognises in file and folder names. */
const SPLIT_KEYWORDS = new Set([
  'train',
  'training',
  'validation',
  'valid',
  'dev',
  'val',
  'test',
  'testing',
  'eval',
  'evaluation',
])
/** JSON files of a repo that describe it rather than hold records. */
const METADATA_FILES = new Set(['dataset_info.json', 'dataset_infos.json', 'dataset_dict.json', 'state.json'])
/** The Hub's Parquet layout: `data/<split>-00000-of-00003.parquet`. */
const SHARDED = /^data\/([A-Za-z0-9_][A-Za-z0-9_.]*)-\d{5}-of-\d{5}[^/]*$/

function withRevision(repo: string): { repo: string; revision?: string } {
  const at = repo.indexOf('@')
  return at < 0 ? { repo } : { repo: repo.slice(0, at), revision: repo.slice(at + 1) }
}

/**
 * Splits a dataset argument; undefined when it is not shaped like one (then it is a local path).
 * `org/name[@rev]:split`, `org/name[@rev]/path/file.{parquet,jsonl,ndjson,json,txt}`, `org/name[@rev]`.
 * A two-part path with a data file's extension (`data/train.jsonl`) is a file, not a repo.
 */
export function parseDatasetArg(arg: string): DatasetRef | undefined {
  if (/^[.~/]/.test(arg) || arg.includes('\\')) return undefined
  const colon = arg.lastIndexOf(':')
  if (colon > 0) {
    const id = arg.slice(0, colon)
    const split = arg.slice(colon + 1)
    if (SPLIT_NAME.test(split) && looksLikeRepoId(id)) return { ...withRevision(id), split }
  }
  const parts = arg.split('/')
  if (parts.length > 2) {
    const id = parts.slice(0, 2).join('/')
    const file = parts.slice(2).join('/')
    if (!DATA_EXT.test(file) || !looksLikeRepoId(id) || file.split('/').some((p) => p === '..' || p === ''))
      return undefined
    return { ...withRevision(id), file }
  }
  if (!looksLikeRepoId(arg)) return undefined
  const ref = withRevision(arg)
  if (DATA_EXT.test(ref.repo)) return undefined
  return ref
}

/** True when `arg` would be fetched from the Hub rather than read from disk. */
export function isHubDatasetArg(arg: string): boolean {
  return !existsSync(arg) && parseDatasetArg(arg) !== undefined
}

/**
 * The local files DATA stands for: the named split (default train) or file of a Hub dataset repo,
 * fetched into the cache on first use. `onEvent` sees the download's progress, and a warning when the
 * network is down and the cached copy is used instead.
 */
export async function resolveHubDataset(
  arg: string,
  hub: HubOptions = {},
  onEvent: DownloadListener = () => {},
): Promise<HubDataset> {
  const ref = parseDatasetArg(arg)
  if (!ref)
    throw new UsageError(
      `${arg} is not a dataset repo id: expected org/name[@rev], org/name[@rev]:split or org/name[@rev]/path/file.jsonl`,
    )
  try {
    return await resolveOnce(ref, hub, onEvent)
  } catch (e) {
    // Network down: a copy already in the cache is still good to train on, as Python falls back to it.
    if (!(e instanceof HubError && e.code === 'E_NETWORK') || resolveHubConfig(hub).offline) throw e
    let ds: HubDataset
    try {
      ds = await resolveOnce(ref, { ...hub, offline: true }, () => {})
    } catch {
      throw e
    }
    const template = `${e.template}; using the cached copy of ${ref.repo}`
    onEvent({ type: 'warning', message: renderOptions(template, (name) => name), template })
    return ds
  }
}

async function resolveOnce(ref: DatasetRef, hub: HubOptions, onEvent: DownloadListener): Promise<HubDataset> {
  // Loaded on demand: a local DATA should not pay for the Hub client's start-up.
  const { downloadRepo } = await import('../../hub/download.js')
  const offline = resolveHubConfig(hub).offline
  const base: DownloadRequest = {
    repo: ref.revision === undefined ? ref.repo : `${ref.repo}@${ref.revision}`,
    repoType: 'dataset',
    hub,
  }
  const done = (r: DownloadResult, paths: string[], split?: string): HubDataset => ({
    repo: ref.repo,
    revision: r.revision,
    commit: r.commit,
    split,
    paths,
    files: paths.map((p) => path.join(r.path, ...p.split('/'))),
    id: `${ref.repo}@${r.commit}${split === undefined ? `/${paths[0]}` : `:${split}`}`,
  })
  if (ref.file) return done(await downloadRepo({ ...base, files: [ref.file] }, onEvent), [ref.file])

  // List (offline: what the cache holds), read the dataset card's configs, then pick the split.
  const listing = await downloadRepo({ ...base, dryRun: true })
  const listed = listing.files.map((f) => f.path)
  let header: unknown
  if (listed.includes('README.md')) {
    const r = await downloadRepo({ ...base, repo: ref.repo, revision: listing.commit, files: ['README.md'] })
    header = await cardHeader(ref.repo, await readFile(path.join(r.path, 'README.md'), 'utf8'))
  }
  const layout = splitLayout(ref.repo, listed, header)
  const inCache = offline ? ' in the cache' : ''
  if (layout.splits.size === 0) {
    const some = listed.slice(0, 8).join(', ') + (listed.length > 8 ? ', …' : '')
    throw new HubError(
      offline ? 'E_OFFLINE' : 'E_ENTRY_NOT_FOUND',
      `${ref.repo} has no data file kiln reads (.parquet, .jsonl, .json, .txt)${inCache}; it holds ${some || 'no files'}`,
    )
  }
  const split = ref.split ?? 'train'
  const chosen = layout.splits.get(split)
  if (!chosen)
    throw new HubError(
      offline ? 'E_OFFLINE' : 'E_ENTRY_NOT_FOUND',
      `${ref.repo} has no split "${split}"${inCache}: it has ${[...layout.splits.keys()].join(', ')} (${layout.how})`,
    )
  const formats = new Set(chosen.map((p) => formatOf(p)))
  if (formats.size > 1)
    throw new FormatError(
      `${ref.repo}'s split ${split} mixes formats (${chosen.slice(0, 4).join(', ')}): name one file, as ${ref.repo}/${chosen[0]}`,
    )
  // The revision as asked (not the commit), so that refs/ records it for offline runs.
  return done(await downloadRepo({ ...base, files: chosen }, onEvent), chosen, split)
}

function formatOf(p: string): string {
  const ext = path.extname(p).toLowerCase()
  return ext === '.ndjson' ? '.jsonl' : ext
}

interface SplitLayout {
  /** Split → repo paths, sorted (shards in order). */
  splits: Map<string, string[]>
  /** Where the splits came from, for an error message. */
  how: string
}

/**
 * A dataset card's YAML header, parsed, when it has a `configs` block (undefined otherwise: a card
 * whose YAML is broken elsewhere does not stop training).
 */
export async function cardHeader(repo: string, card: string): Promise<unknown> {
  const m = /^---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(card)
  if (!m || !/^configs\s*:/m.test(m[1])) return undefined
  const { parse } = await import('yaml')
  try {
    return parse(m[1])
  } catch (e) {
    throw unclear(repo, `cannot be read: ${(e as Error).message.split('\n')[0]}`)
  }
}

function unclear(repo: string, what: string): FormatError {
  return new FormatError(
    `${repo}: README.md's configs ${what}; name a file instead (${repo}/path/in/repo.parquet)`,
  )
}

/**
 * The dataset's splits: the default config of the card's `configs` (`header`, from cardHeader), else
 * the datasets library's file-name conventions.
 */
export function splitLayout(repo: string, listed: string[], header?: unknown): SplitLayout {
  const sorted = [...listed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const config = header === undefined ? undefined : cardConfig(repo, header)
  if (config?.dataFiles !== undefined) {
    const splits = new Map<string, string[]>()
    for (const [split, patterns] of config.dataFiles) {
      const res = patterns.map((p) => dataFilesRegExp(joinDir(config.dataDir, p)))
      const files = sorted.filter((f) => res.some((r) => r.test(f)))
      if (files.length === 0)
        throw new HubError(
          'E_ENTRY_NOT_FOUND',
          `${repo}: README.md's configs give split ${split} as ${patterns.join(', ')}, which matches no file`,
        )
      splits.set(split, files)
    }
    return { splits, how: `from README.md's configs${config.name ? ` (${config.name})` : ''}` }
  }
  if (config?.dataDir !== undefined) {
    const prefix = `${config.dataDir.replace(/\/+$/, '')}/`
    const inner = sorted.filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length))
    const layout = conventionLayout(inner)
    for (const [k, v] of layout.splits)
      layout.splits.set(
        k,
        v.map((f) => prefix + f),
      )
    return { ...layout, how: `${layout.how} under ${prefix}` }
  }
  return conventionLayout(sorted)
}

/** The datasets library's conventions, in its order: sharded data/<split>-NNNNN-of-NNNNN, then names. */
function conventionLayout(sorted: string[]): SplitLayout {
  const data = sorted.filter((f) => isDataFile(f))
  const splits = new Map<string, string[]>()
  const add = (split: string, f: string) => splits.set(split, [...(splits.get(split) ?? []), f])
  for (const f of data) {
    const m = SHARDED.exec(f)
    if (m) add(m[1], f)
  }
  if (splits.size > 0) return { splits, how: 'from data/<split>-NNNNN-of-NNNNN files' }
  // `<split>.jsonl`, `<split>-00000-of-00002.parquet`, `<split>_0.json` at the root or under data/,
  // or any data file inside a folder named after a split (train/, data/test/).
  for (const f of data) {
    const parts = f.split('/')
    const dirs = parts[0] === 'data' ? parts.slice(1, -1) : parts.slice(0, -1)
    if (dirs.length === 0) {
      const stem = parts[parts.length - 1].split('.')[0].replace(/[-_]\d+(-of-\d+)?$/, '')
      if (stem !== '') add(stem, f)
    } else if (SPLIT_KEYWORDS.has(dirs[0].toLowerCase())) add(dirs[0], f)
  }
  if (splits.size > 0 && [...splits.keys()].some((s) => SPLIT_KEYWORDS.has(s.toLowerCase())))
    return { splits, how: 'from the file names' }
  // No file is named after a split: as the datasets library does, everything is the train split.
  const all = data.filter((f) => {
    const parts = f.split('/')
    return parts.length === 1 || (parts[0] === 'data' && parts.length === 2)
  })
  return all.length > 0
    ? { splits: new Map([['train', all]]), how: 'no file is named after a split: all of them are train' }
    : { splits: new Map(), how: '' }
}

function isDataFile(f: string): boolean {
  const parts = f.split('/')
  // Hidden and private paths (`.gitattributes`, `_meta/`) are not data, as in the datasets library.
  if (parts.some((p) => p.startsWith('.') || p.startsWith('_'))) return false
  return DATA_EXT.test(f) && !METADATA_FILES.has(parts[parts.length - 1])
}

interface CardConfig {
  name?: string
  dataDir?: string
  /** Split → glob patterns, when the config lists data_files. */
  dataFiles?: [string, string[]][]
}

/** The default config of a dataset card's `configs` block. */
function cardConfig(repo: string, header: unknown): CardConfig {
  const configs = (header as { configs?: unknown })?.configs
  if (!Array.isArray(configs) || configs.length === 0 || !configs.every(isObject))
    throw unclear(repo, 'is not a list of configs')
  const names = configs.map((c) => String(c.config_name ?? 'default'))
  const chosen =
    configs.length === 1
      ? configs[0]
      : (configs.find((c) => c.default === true) ??
        configs.find((c) => (c.config_name ?? 'default') === 'default'))
  if (!chosen) throw unclear(repo, `list several (${names.join(', ')}) and none is the default`)
  const name = chosen.config_name === undefined ? undefined : String(chosen.config_name)
  const dataDir = typeof chosen.data_dir === 'string' ? chosen.data_dir : undefined
  const df = chosen.data_files
  if (df === undefined) return { name, dataDir }
  const patterns = (v: unknown): string[] | undefined =>
    typeof v === 'string'
      ? [v]
      : Array.isArray(v) && v.length > 0 && v.every((p) => typeof p === 'string')
        ? v
        : undefined
  const dataFiles: [string, string[]][] = []
  const plain = patterns(df)
  if (plain) dataFiles.push(['train', plain])
  else if (Array.isArray(df)) {
    for (const entry of df) {
      const p = isObject(entry) ? patterns(entry.path) : undefined
      if (!isObject(entry) || typeof entry.split !== 'string' || !p)
        throw unclear(repo, `give data_files as ${JSON.stringify(entry)} (expected {split, path})`)
      dataFiles.push([entry.split, p])
    }
  } else if (isObject(df)) {
    for (const [split, v] of Object.entries(df)) {
      const p = patterns(v)
      if (!p) throw unclear(repo, `give split ${split}'s data_files as ${JSON.stringify(v)}`)
      dataFiles.push([split, p])
    }
  } else throw unclear(repo, `give data_files as ${JSON.stringify(df)}`)
  return { name, dataDir, dataFiles }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function joinDir(dir: string | undefined, p: string): string {
  return dir === undefined || dir === '' || dir === '.' ? p : `${dir.replace(/\/+$/, '')}/${p}`
}

/** A data_files pattern as the Hub's file system globs it: `*` within a folder, `**` across them. */
function dataFilesRegExp(pattern: string): RegExp {
  return globRegExp(pattern.replace(/^\.\//, ''), true)
}
