// `kiln env` as text: short labelled lines, easy to read and to paste.
import type { EnvReport } from './collect.js'

const GiB = 2 ** 30

function bytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${n} B`
}

export function renderEnv(r: EnvReport): string {
  const lines = [
    `kiln:      ${r.kiln.version}`,
    `node:      ${r.node.version} (v8 ${r.node.v8})`,
    `os:        ${r.os.name} (${r.os.platform} ${r.os.release}, ${r.os.arch})`,
    `cpu:       ${r.cpu.model}`,
    `cores:     ${r.cpu.cores}`,
    `simd:      ${r.cpu.simd.join(' ') || 'none found'}`,
    `memory:    ${bytes(r.memory.total_bytes)} total, ${bytes(r.memory.free_bytes)} free`,
    r.native.built
      ? `native:    built; backends ${r.native.backends.join(', ')}; kernel tier ${r.native.tier ?? 'portable'}${r.native.simd.length ? ` (${r.native.simd.join(' ')})` : ''}`
      : `native:    unavailable (${r.native.error})`,
    r.cuda
      ? `cuda:      driver ${r.cuda.driver}; ${r.cuda.gpus.map((g) => `${g.name} (${bytes(g.memory_bytes)})`).join(', ') || 'no GPU listed'}`
      : 'cuda:      no NVIDIA driver found',
    `settings:  ${r.settings.path}${r.settings.exists ? '' : ' (does not exist; defaults apply)'}`,
  ]
  const width = Math.max(...Object.keys(r.settings.values).map((k) => k.length))
  for (const [key, { value, source }] of Object.entries(r.settings.values))
    lines.push(`  ${key.padEnd(width)}  ${value === null ? '-' : String(value)}  (${source})`)
  lines.push(
    `cache:     ${r.cache.dir} — ${r.cache.exists ? `${bytes(r.cache.size_bytes)} in ${r.cache.files} files` : 'does not exist yet'}`,
    `proxy:     ${r.proxy.error ?? r.proxy.hub ?? 'none (direct)'}${r.proxy.no_proxy ? `; NO_PROXY ${r.proxy.no_proxy}` : ''}`,
  )
  return `${lines.join('\n')}\n`
}
