// Shared setup for the Hub tests: a Hub-protocol server with a few repos, a fresh cache per test,
// and `kiln` runs pointed at them through the same environment variables Python reads.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { type DownloadRequest, downloadRepo } from '../../../src/core/hub/download.js'
import { type KilnRun, makeTempDir, runKiln, spawnKiln } from '../../helpers/cli.js'
import { type HubServer, type RepoFileSpec, randomBytesSeeded, startHubServer } from './hub-server.mjs'

export type { HubServer }

/** A small repo: two LFS blobs (one in a subfolder), small git files, and enough entries to page. */
export function tinyRepoFiles(seed = 1): RepoFileSpec[] {
  return [
    { path: 'config.json', content: `{"model_type":"tiny","seed":${seed}}` },
    { path: 'README.md', content: `# tiny ${seed}\n` },
    { path: 'tokenizer.json', content: JSON.stringify({ version: '1.0', seed }) },
    { path: 'model.safetensors', content: randomBytesSeeded(3_000_000, seed) },
    { path: 'sub/dir/extra.bin', content: randomBytesSeeded(200_000, seed + 100) },
  ]
}

export async function startServer(): Promise<HubServer> {
  return startHubServer({ pageSize: 2 })
}

const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'].flatMap((v) => [
  v,
  v.toUpperCase(),
])

export interface Env {
  cache: string
  home: string
  env: NodeJS.ProcessEnv
}

export function freshEnv(server: HubServer, extra: NodeJS.ProcessEnv = {}): Env {
  const home = makeTempDir('kiln-hub-')
  const cache = path.join(home, 'hub')
  return {
    home,
    cache,
    env: {
      HF_ENDPOINT: server.endpoint,
      HF_HOME: home,
      HF_HUB_CACHE: cache,
      HF_TOKEN: '',
      HF_HUB_OFFLINE: '',
      KILN_HUB_RETRY_BASE_MS: '20',
      // A proxy of the machine running the tests must not stand between kiln and the test server
      // (proxy.test.ts sets its own).
      ...Object.fromEntries(PROXY_VARIABLES.map((v) => [v, ''])),
      ...extra,
    },
  }
}

/** `kiln <args>` in this process (see helpers/cli.ts). */
export function kiln(args: string[], env: Env, opts: { timeoutMs?: number } = {}): Promise<KilnRun> {
  return runKiln(args, { env: env.env, timeoutMs: opts.timeoutMs ?? 30_000 })
}

/**
 * `kiln <args>` as a process of its own: for what a process has alone (its own locks against another
 * process, variables Node reads at start-up such as NODE_EXTRA_CA_CERTS).
 */
export function kilnProcess(args: string[], env: Env, opts: { timeoutMs?: number } = {}): Promise<KilnRun> {
  return spawnKiln(args, { env: env.env, timeoutMs: opts.timeoutMs ?? 30_000 })
}

/** Every path under `dir` (relative), with symlink targets: the layout, comparable between tools. */
export function layout(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name)
    const rel = prefix ? `${prefix}/${name}` : name
    const st = lstatSync(full)
    if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(full)}`)
    else if (st.isDirectory()) out.push(`${rel}/`, ...layout(full, rel))
    else out.push(`${rel} (${st.size})`)
  }
  return out
}

export function read(p: string): Buffer {
  return readFileSync(p)
}

/** The single `kiln: …` line a failed run must print, and no stack trace. */
export function oneErrorLine(r: KilnRun): string {
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('kiln: '))
  if (lines.length !== 1 || /\n\s+at /.test(r.stderr))
    throw new Error(`expected one "kiln:" line, got:\n${r.stderr}`)
  return lines[0]
}

/**
 * The same download in this process (the library call `kiln download` makes), for set-up steps and
 * checks where a fresh CLI process would only add start-up time.
 */
export async function fetchInProcess(server: HubServer, env: Env, req: Omit<DownloadRequest, 'hub'>) {
  return downloadRepo({
    ...req,
    hub: { endpoint: server.endpoint, cacheDir: env.cache, token: env.env.HF_TOKEN || undefined },
  })
}
