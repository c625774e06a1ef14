// `kiln env`: what a user pastes into a bug report — versions, machine, native build, GPUs,
// settings (secrets redacted) and the cache. Each part that cannot be found says so instead of
// failing the report.
import { existsSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { proxyFor, proxyLabel } from '../../core/hub/proxy.js'
import { native } from '../../core/native.js'
import { loadSettings } from '../settings/load.js'
import { settingsPath } from '../settings/location.js'
import { resolveAll, shownValue } from '../settings/resolve.js'
import { type CpuReport, cpuReport } from './cpu.js'
import { dirSize } from './dir-size.js'
import { type CudaInfo, detectCuda } from './gpu.js'

export interface EnvReport {
  kiln: { version: string }
  node: { version: string; v8: string }
  os: { platform: string; arch: string; release: string; name: string }
  cpu: CpuReport
  memory: { total_bytes: number; free_bytes: number }
  native: { built: boolean; backends: string[]; simd: string[]; tier?: string; error?: string }
  cuda: CudaInfo | null
  settings: { path: string; exists: boolean; values: Record<string, { value: unknown; source: string }> }
  cache: { dir: string; exists: boolean; size_bytes: number; files: number }
  /** The proxy requests to the Hub endpoint go through (credentials left out), or why none can be. */
  proxy: { hub: string | null; no_proxy: string | null; error?: string }
}

function kilnVersion(): string {
  const pjson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
  return String(pjson.version)
}

/** PRETTY_NAME of the Linux distribution, or the OS type elsewhere. */
function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))
    if (m) return m[1]
  } catch {}
  return os.type()
}

function nativeReport(): EnvReport['native'] {
  try {
    const info = native().cpuInfo()
    const simd = (
      ['avx2', 'fma', 'f16c', 'avx512f', 'avxvnni', 'avx512vnni', 'amx', 'neon', 'dotprod', 'i8mm'] as const
    ).filter((f) => info[f])
    return { built: true, backends: info.backends, simd, tier: info.kernels }
  } catch (e) {
    return { built: false, backends: [], simd: [], error: e instanceof Error ? e.message : String(e) }
  }
}

function proxyReport(endpoint: string, env: NodeJS.ProcessEnv): EnvReport['proxy'] {
  const no_proxy = env.no_proxy || env.NO_PROXY || null
  try {
    const proxy = proxyFor(new URL(endpoint), env)
    return { hub: proxy ? proxyLabel(proxy) : null, no_proxy }
  } catch (e) {
    return { hub: null, no_proxy, error: e instanceof Error ? e.message : String(e) }
  }
}

export async function collectEnv(env: NodeJS.ProcessEnv = process.env): Promise<EnvReport> {
  const file = await loadSettings(settingsPath(env), env)
  const settings = await resolveAll({ env, file })
  const cacheDir = String(settings.find((s) => s.key === 'hub.cache_dir')?.value)
  const exists = existsSync(cacheDir)
  const size = exists ? dirSize(cacheDir) : { bytes: 0, files: 0 }
  return {
    kiln: { version: kilnVersion() },
    node: { version: process.version, v8: process.versions.v8 },
    os: { platform: process.platform, arch: process.arch, release: os.release(), name: osName() },
    cpu: cpuReport(),
    memory: { total_bytes: os.totalmem(), free_bytes: os.freemem() },
    native: nativeReport(),
    cuda: detectCuda(),
    settings: {
      path: file.path,
      exists: file.exists,
      values: Object.fromEntries(settings.map((s) => [s.key, { value: shownValue(s), source: s.source }])),
    },
    cache: { dir: cacheDir, exists, size_bytes: size.bytes, files: size.files },
    proxy: proxyReport(String(settings.find((s) => s.key === 'hub.endpoint')?.value), env),
  }
}
