#!/usr/bin/env node
// Builds the native addon with node-gyp against the headers of the Node that runs this script,
// so a fresh clone builds with no network (node-gyp's default header download is not reachable).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { nativeSources } from './native-sources.mjs'

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

const common = ['--release']
const dir = nodeDir()
if (dir) common.push(`--nodedir=${dir}`)
else {
  // No local headers: fall back to the node-api-headers package if present.
  try {
    const headers = path.dirname(require.resolve('node-api-headers/package.json'))
    common.push(`--nodedir=${headers}`)
  } catch {}
}
const gyp = (verb, extra = []) =>
  spawnSync(process.execPath, [nodeGyp(), verb, ...common, ...extra], { cwd: root, stdio: 'inherit' })
    .status ?? 1
// Configure once (or when binding.gyp or the set of sources changed), then build incrementally: make
// rebuilds what changed.
const makefile = path.join(root, 'build', 'Makefile')
const stamp = path.join(root, 'build', 'sources.txt')
const sources = nativeSources().join('\n')
const stale =
  !existsSync(makefile) ||
  statSync(path.join(root, 'binding.gyp')).mtimeMs > statSync(makefile).mtimeMs ||
  !existsSync(stamp) ||
  readFileSync(stamp, 'utf8') !== sources
if (stale) {
  if (gyp('configure') !== 0) process.exit(1)
  writeFileSync(stamp, sources)
}
if (gyp('build', [`--jobs=${process.env.JOBS ?? 'max'}`]) !== 0) process.exit(1)

// A shared library links with undefined symbols, and the addon would then fail only when loaded. A
// kiln function declared but never defined (a backend kernel named in its table, say) is a bug in
// this build, so it fails here. Skipped where nm is not installed.
const addon = path.join(root, 'build', 'Release', 'kiln_native.node')
const nm = spawnSync('nm', ['-DC', '--undefined-only', addon], { encoding: 'utf8' })
if (nm.status === 0) {
  const missing = nm.stdout.split('\n').filter((l) => /\bkiln::/.test(l))
  if (missing.length) {
    console.error(
      `kiln_native: declared but never defined:\n${missing.map((l) => `  ${l.trim()}`).join('\n')}`,
    )
    process.exit(1)
  }
}
