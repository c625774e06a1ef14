#!/usr/bin/env node
// Builds the native addon with node-gyp against the headers of the Node that runs this script,
// so a fresh clone builds with no network (node-gyp's default header download is not reachable).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')

function nodeDir() {
  // Installed Node (Debian, nvm, official tarball) keeps its headers at <prefix>/include/node.
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix
  return undefined
}

function nodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js')
  } catch {
    const bundled = path.join(
      path.dirname(process.execPath),
      '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    )
    if (existsSync(bundled)) return bundled
    throw new Error('node-gyp not found: run npm install first')
  }
}

const args = [nodeGyp(), 'rebuild', '--release', `--jobs=${process.env.JOBS ?? 'max'}`]
const dir = nodeDir()
if (dir) args.push(`--nodedir=${dir}`)
else {
  // No local headers: fall back to the node-api-headers package if present.
  try {
    const headers = path.dirname(require.resolve('node-api-headers/package.json'))
    args.push(`--nodedir=${headers}`)
  } catch {}
}
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
process.exit(r.status ?? 1)
