// What the native fuzz targets share: a child script bundled from the sources with esbuild (once
// per test file), and a run of one batch of cases in it that reports each case's result, or which
// case took the process down or ran past the hang bound. The child writes "S i" before case i and
// "D i <json>" after it, one line each.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { FUZZ_DIR } from './harness.js'

const ROOT = path.resolve(FUZZ_DIR, '..', '..')

/** `test/fuzz/<entry>.ts` bundled into a temporary file, the first time it is asked for. */
export function bundledChild(entry: string): () => Promise<string> {
  let bundled: Promise<string> | undefined
  return () => {
    bundled ??= (async () => {
      const esbuild = await import('esbuild')
      const dir = mkdtempSync(path.join(os.tmpdir(), `kiln-fuzz-${entry}-`))
      const outfile = path.join(dir, `${entry}.mjs`)
      await esbuild.build({
        entryPoints: [path.join(FUZZ_DIR, `${entry}.ts`)],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile,
        sourcemap: 'inline',
        logLevel: 'silent',
        // native.ts finds build/Release/kiln_native.node from its own place in the tree.
        define: {
          'import.meta.url': JSON.stringify(pathToFileURL(path.join(ROOT, 'src', 'core', 'native.ts')).href),
        },
      })
      process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
      return outfile
    })()
    return bundled
  }
}

export type ChildRun<R> = { results: R[] } | { results: R[]; crashed: number; why: string; stderr: string }

/** Runs `script args…` for `count` cases; stops at a crash or at a case past `hangMs`. */
export function runCaseChild<R>(
  script: string,
  args: string[],
  count: number,
  hangMs: number,
): Promise<ChildRun<R>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KILN_THREADS: '1' },
    })
    const results: R[] = []
    let started = -1
    let buffered = ''
    let stderr = ''
    let hung = false
    let timer: NodeJS.Timeout | undefined
    const arm = () => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        hung = true
        child.kill('SIGKILL')
      }, hangMs)
    }
    arm()
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      buffered += chunk
      let nl = buffered.indexOf('\n')
      while (nl >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        if (line.startsWith('S ')) {
          started = Number(line.slice(2))
          arm()
        } else if (line.startsWith('D ')) {
          const space = line.indexOf(' ', 2)
          results[Number(line.slice(2, space))] = JSON.parse(line.slice(space + 1))
        }
        nl = buffered.indexOf('\n')
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < 20_000) stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0 && results.length === count) return resolve({ results })
      const why = hung
        ? `ran past ${hangMs} ms (killed)`
        : `the child process ended with ${signal ? `signal ${signal}` : `status ${code}`}`
      resolve({ results, crashed: Math.max(started, 0), why, stderr })
    })
  })
}
