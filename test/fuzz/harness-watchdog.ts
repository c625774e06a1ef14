// The watchdog: a worker thread beside the test that stops the process when a case hangs or the
// process's memory runs away, and says which case it was. Its own file, as it is the one part of
// the harness that runs on another thread: WATCHDOG_CODE is a CommonJS string evaluated in a Worker
// (eval: true) that sees only its workerData and the SharedArrayBuffer the test thread writes the
// case in progress to, never this module's imports: keep it plain JavaScript with require().
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { OUT_DIR, PROCESS_RSS_BOUND, SEED } from './harness-settings.js'

/** A thread beside the test that stops the process when a case runs past its bound many times
 * over or the process grows past PROCESS_RSS_BOUND, printing the case: synchronous code that never
 * returns cannot be interrupted from inside. */
export interface Watchdog {
  enter(index: number, text?: string): void
  leave(): void
  stop(): void
}

const WATCHDOG_CODE = `
const { workerData } = require('node:worker_threads')
const fs = require('node:fs')
const path = require('node:path')
const { shared, target, seed, hangMs, rssBound, outDir } = workerData
const f64 = new Float64Array(shared, 0, 4)
const text = new Uint8Array(shared, 32)
const timer = setInterval(() => {
  const active = f64[2] === 1
  const elapsed = Date.now() - f64[0]
  const rss = process.memoryUsage.rss()
  let why
  if (active && elapsed > hangMs) why = 'ran ' + elapsed + ' ms (the watchdog stops a case at ' + hangMs + ' ms)'
  else if (rss > rssBound) why = 'the process holds ' + Math.round(rss / 2 ** 20) + ' MiB (bound ' + Math.round(rssBound / 2 ** 20) + ' MiB)'
  if (!why) return
  const index = f64[1]
  const len = f64[3]
  const input = Buffer.from(text.subarray(0, len)).toString('utf8')
  const where = index < 0 ? 'a corpus file' : 'case ' + index + ' (reproduce: KILN_FUZZ_SEED=' + seed + ' KILN_FUZZ_CASE=' + index + ')'
  const msg = '[fuzz] ' + target + ': ' + where + ' ' + why + '; stopping the process.' + (input ? '\\n[fuzz] the case: ' + input : '') + '\\n'
  try { fs.mkdirSync(outDir, { recursive: true }); fs.writeFileSync(path.join(outDir, target + '-' + seed + '-watchdog.txt'), msg) } catch {}
  fs.writeSync(2, msg)
  clearInterval(timer)
  process.kill(process.pid, 'SIGKILL')
}, 100)
`

const TEXT_BYTES = 64 * 1024

export function watchdog(target: string, caseMs: number): Watchdog {
  // The case in progress, on disk: a fatal V8 error (out of memory) takes the watchdog down with
  // the process, and this file is what is left to say which case it was.
  mkdirSync(OUT_DIR, { recursive: true })
  const currentFile = path.join(OUT_DIR, `${target}-${process.pid}.current`)
  const fd = openSync(currentFile, 'w')
  const shared = new SharedArrayBuffer(32 + TEXT_BYTES)
  const f64 = new Float64Array(shared, 0, 4)
  const text = new Uint8Array(shared, 32)
  const encoder = new TextEncoder()
  const worker = new Worker(WATCHDOG_CODE, {
    eval: true,
    workerData: {
      shared,
      target,
      seed: SEED,
      // Well past the property's own bound (which fails and shrinks a slow case that does return).
      hangMs: Math.max(caseMs * 5, 30_000),
      rssBound: PROCESS_RSS_BOUND,
      outDir: OUT_DIR,
    },
  })
  worker.unref()
  return {
    enter(index, s) {
      writeSync(fd, `KILN_FUZZ_SEED=${SEED} KILN_FUZZ_CASE=${String(index).padEnd(12)}\n`, 0)
      f64[0] = Date.now()
      f64[1] = index
      f64[3] = s ? encoder.encodeInto(s.slice(0, TEXT_BYTES / 3), text).written : 0
      f64[2] = 1
    },
    leave() {
      f64[2] = 0
    },
    stop() {
      void worker.terminate()
      closeSync(fd)
      rmSync(currentFile, { force: true })
    },
  }
}
