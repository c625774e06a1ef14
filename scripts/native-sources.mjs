#!/usr/bin/env node
// Lists the addon's C++ sources (every native/**/*.cc), one per line, for binding.gyp's `<!@(...)`.
// A new kernel file is picked up without editing binding.gyp; CUDA sources (.cu) are not listed.
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

export function nativeSources() {
  const out = []
  const walk = (dir) => {
    for (const e of readdirSync(path.join(root, dir), { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const rel = `${dir}/${e.name}`
      if (e.isDirectory()) walk(rel)
      else if (e.name.endsWith('.cc')) out.push(rel)
    }
  }
  walk('native')
  return out
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.stdout.write(`${nativeSources().join('\n')}\n`)
