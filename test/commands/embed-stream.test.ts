// kiln embed over a long file streams: it reads a batch of lines, writes their vectors to the
// output's temporary file and lets them go, so its memory levels off once the model is loaded.
// Held instead, the lines and vectors (200,000 × 64 floats and their objects) raise it steadily to
// the end. The child runs with a 64 MiB old-space limit, so the collector keeps its heap near what
// is live rather than growing into the room a machine has; its VmRSS (Linux) is sampled through
// the run, and the peak over the last third may pass the peak over the second sixth (past
// start-up) by little. Measured here: streaming −23 to −5 MiB; with every batch kept (a test
// edit of the command) +114 MiB.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, makeTempDir, ROOT, removeTempDirs } from '../helpers/cli.js'
import { BERT_TINY } from '../helpers/encoder-variants.js'

afterAll(() => removeTempDirs())

const WORDS = ['river', 'stone', 'light', 'market', 'winter', 'garden', 'signal', 'harbor', 'paper', 'engine']
const LINES = 200_000

/** `n` distinct short lines. */
function lines(n: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(`${WORDS[i % 10]} ${WORDS[(i >> 3) % 10]} ${i}`)
  return `${out.join('\n')}\n`
}

/** Runs kiln embed as a child, sampling its resident memory (bytes) every 50 ms. */
function embedSampled(
  input: string,
  output: string,
): Promise<{ status: number | null; rss: number[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'embed',
        '-m',
        BERT_TINY,
        '-f',
        input,
        '-o',
        output,
        '--batch-size',
        '256',
        '--threads',
        '1',
        '--quiet',
      ],
      { cwd: ROOT },
    )
    const rss: number[] = []
    let stderr = ''
    const poll = setInterval(() => {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]
        if (kb) rss.push(Number(kb) * 1024)
      } catch {
        // gone between two reads
      }
    }, 50)
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearInterval(poll)
      resolve({ status: code, rss, stderr })
    })
  })
}

describe.runIf(existsSync('/proc/self/status'))('kiln embed streams a long file', () => {
  it(`${LINES} lines: memory levels off, and every vector is written`, { timeout: 240_000 }, async () => {
    const dir = makeTempDir()
    const input = path.join(dir, 'lines.txt')
    const output = path.join(dir, 'lines.npy')
    writeFileSync(input, lines(LINES))
    const r = await embedSampled(input, output)
    expect(r.status, r.stderr).toBe(0)
    const npy = readFileSync(output)
    const header = 10 + npy.readUInt16LE(8)
    expect(npy.subarray(0, header).toString('latin1')).toContain(`'shape': (${LINES}, 64)`)
    expect(npy.length).toBe(header + LINES * 64 * 4)
    // Enough samples to tell a level from a slope.
    expect(r.rss.length).toBeGreaterThan(30)
    const sixth = Math.floor(r.rss.length / 6)
    const early = Math.max(...r.rss.slice(sixth, 2 * sixth))
    const late = Math.max(...r.rss.slice(-2 * sixth))
    expect(late - early).toBeLessThan(32 * 2 ** 20)
  })
})
