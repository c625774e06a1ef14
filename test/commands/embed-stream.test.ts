// kiln embed over a long file streams: it reads a batch of lines, writes their vectors to the
// output's temporary file and lets them go, so what it holds stays level from the first batches to
// the last. Measured in the child itself (test/helpers/memory-probe.cjs): every 250 ms a full
// collection, then the live heap plus array buffers, which do not depend on the machine's load or
// the collector's timing (the resident size did: an earlier form of this test sampled VmRSS and
// was too noisy under the full suite). The least of them over the last third of the run may pass
// the least over its second sixth by little (the least of each stretch leaves out the batch in
// flight). Measured here: streaming +0.01 to +0.08 MiB (25.3 MiB live); with every batch's vectors
// kept (a test edit of the command) +29 MiB.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { BIN, makeTempDir, ROOT, removeTempDirs } from '../helpers/cli.js'
import { BERT_TINY } from '../helpers/encoder-variants.js'

afterAll(() => removeTempDirs())

const WORDS = ['river', 'stone', 'light', 'market', 'winter', 'garden', 'signal', 'harbor', 'paper', 'engine']
const LINES = 100_000
const PROBE = path.join(ROOT, 'test', 'helpers', 'memory-probe.cjs')

/** `n` distinct short lines. */
function lines(n: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(`${WORDS[i % 10]} ${WORDS[(i >> 3) % 10]} ${i}`)
  return `${out.join('\n')}\n`
}

interface Sample {
  heap: number
  buffers: number
}

/** Runs kiln embed as a child with the probe loaded; its samples, in order. */
function embedProbed(
  input: string,
  output: string,
  probe: string,
): Promise<{ status: number | null; stderr: string; samples: Sample[] }> {
  return new Promise((resolve, reject) => {
    const args = [
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
    ]
    const child = spawn(process.execPath, [BIN, ...args, '--quiet'], {
      cwd: ROOT,
      env: {
        ...process.env,
        KILN_TEST_MEMORY_PROBE: probe,
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --require "${PROBE}"`,
      },
    })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const samples = existsSync(probe)
        ? readFileSync(probe, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Sample)
        : []
      resolve({ status: code, stderr, samples })
    })
  })
}

describe.runIf(process.platform !== 'win32')('kiln embed streams a long file', () => {
  it(`${LINES} lines: what it holds stays level, and every vector is written`, {
    timeout: 240_000,
  }, async () => {
    const dir = makeTempDir()
    const input = path.join(dir, 'lines.txt')
    const output = path.join(dir, 'lines.npy')
    const probe = path.join(dir, 'probe.jsonl')
    writeFileSync(input, lines(LINES))
    const r = await embedProbed(input, output, probe)
    expect(r.status, r.stderr).toBe(0)
    const npy = readFileSync(output)
    const header = 10 + npy.readUInt16LE(8)
    expect(npy.subarray(0, header).toString('latin1')).toContain(`'shape': (${LINES}, 64)`)
    expect(npy.length).toBe(header + LINES * 64 * 4)
    const live = r.samples.map((s) => s.heap + s.buffers)
    // Enough samples to tell a level from a slope.
    expect(live.length).toBeGreaterThanOrEqual(12)
    const sixth = Math.floor(live.length / 6)
    const early = Math.min(...live.slice(sixth, 2 * sixth))
    const late = Math.min(...live.slice(-2 * sixth))
    expect(
      late - early,
      `live ${(early / 2 ** 20).toFixed(1)} → ${(late / 2 ** 20).toFixed(1)} MiB`,
    ).toBeLessThan(4 * 2 ** 20)
  })
})
