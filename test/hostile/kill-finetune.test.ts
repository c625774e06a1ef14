// `kiln finetune` killed with SIGKILL at random moments after its first checkpoint, then resumed
// with --resume, again and again: after each kill OUT/checkpoint is whole (it loads) and never half
// written, and the run pieced together from the killed runs and their resumes has exactly the loss
// curve of an uninterrupted run with the same seed (dropout on, two micro-batches per step, an eval
// split): every step's loss, learning rate and gradient norm, to the last bit.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openSafetensors } from '../../src/core/formats/safetensors.js'
import { readMetrics } from '../../src/core/train/report/metrics-file.js'
import { makeTempDir, removeTempDirs } from '../helpers/cli.js'
import { golden } from '../helpers/fixtures.js'
import { KILLS, killAt, leftovers, rng, run, SEED, timeoutFor } from './helpers.js'

afterAll(() => removeTempDirs())

// Each kill costs a start-up and a resume: three unless KILN_HOSTILE_KILLS asks for more.
const KILLS_HERE = process.env.KILN_HOSTILE_KILLS ? KILLS : 3
// Room for every kill: each lands one to four steps past the last checkpoint (two steps make an
// epoch of this data, so kills fall on both sides of epoch boundaries).
const STEPS = Math.max(24, 5 * KILLS_HERE + 6)

const LINES = [
  'The license is free software and you can share it.',
  'Git is fast, and it keeps every version of a file.',
  'A small model learns the words it sees again and again.',
  'The quick brown fox jumps over the lazy dog.',
  'Free software respects the freedom of its users.',
  'Every commit records who changed what, and why.',
  'A checkpoint is written whole or not at all.',
  'Resuming continues the very same run.',
  'Dropout masks derive from the seed and the step.',
  'The data order derives from the seed and the epoch.',
]

interface JsonEvent {
  event: string
  step?: number
  loss?: number
  lr?: number
  grad_norm?: number
  tokens?: number
  start_step?: number
}

function events(stdout: string): JsonEvent[] {
  // A killed run's last line can be cut short: only whole lines count.
  const lines = stdout.split('\n').slice(0, -1)
  return lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as JsonEvent)
}

/** What must match between runs: the curve, not the clock. */
const curve = (e: JsonEvent) => ({
  event: e.event,
  step: e.step,
  loss: e.loss,
  lr: e.lr,
  grad_norm: e.grad_norm,
  tokens: e.tokens,
})

/** metrics.jsonl without its timings. */
function metricsCurve(out: string) {
  return readMetrics(path.join(out, 'metrics.jsonl')).map((m) =>
    m.type === 'step'
      ? { type: m.type, step: m.step, loss: m.loss, lr: m.lr, gradNorm: m.gradNorm, tokens: m.tokens }
      : { type: m.type, step: m.step, loss: m.loss },
  )
}

/** OUT/checkpoint's step after checking it is whole: state.json and every tensor readable. */
function checkpointStep(out: string, what: string): number | undefined {
  const dir = path.join(out, 'checkpoint')
  if (!existsSync(dir)) return undefined
  const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'))
  expect(state.format, what).toBe('kiln-finetune-checkpoint')
  const file = openSafetensors(path.join(dir, 'state.safetensors'))
  const names = [...file.tensors.keys()]
  // Each parameter with its two AdamW moments, all of them readable to the end of the file.
  expect(names.length % 3, what).toBe(0)
  expect(names.length, what).toBeGreaterThan(0)
  for (const [, view] of file.tensors) expect(view.data.byteLength, what).toBeGreaterThan(0)
  return state.step as number
}

/** The step OUT/checkpoint holds, 0 without one (a quick look, while the run goes on). */
function savedStep(out: string): number {
  const file = path.join(out, 'checkpoint', 'state.json')
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')).step as number) : 0
}

describe('kiln finetune under SIGKILL', () => {
  it(
    `--resume continues the uninterrupted loss curve (${KILLS_HERE} kills, seed ${SEED})`,
    async () => {
      const dir = makeTempDir('kiln-hostile-')
      const data = path.join(dir, 'train.jsonl')
      writeFileSync(data, `${LINES.map((text) => JSON.stringify({ text })).join('\n')}\n`)
      const args = (out: string, resume = false) => [
        'finetune',
        '-m',
        golden('llama-tiny'),
        '--data',
        data,
        '-o',
        out,
        '--max-steps',
        String(STEPS),
        '--batch-size',
        '2',
        '--grad-accum',
        '2',
        '--dropout',
        '0.1',
        '--lr',
        '1e-2',
        '--seq-len',
        '32',
        '--seed',
        '5',
        '--eval-split',
        '0.2',
        '--eval-every',
        '5',
        '--save-every',
        '1',
        '--json',
        '-t',
        '1',
        ...(resume ? ['--resume'] : []),
      ]

      const refOut = path.join(dir, 'reference')
      const ref = await run(args(refOut))
      expect(ref.status, ref.stderr).toBe(0)
      const refCurve = events(ref.stdout)
        .filter((e) => e.event === 'step' || e.event === 'eval')
        .map(curve)
      expect(refCurve.filter((e) => e.event === 'step')).toHaveLength(STEPS)

      const out = path.join(dir, 'killed')
      const random = rng(SEED + 11)
      const pieced: JsonEvent[] = []
      let saved = 0 // the step of the checkpoint the next run resumes from
      let kills = 0
      let inSave = 0 // kills that left a checkpoint's temporary folder: they landed inside a save
      for (let i = 0; i < KILLS_HERE && saved < STEPS - 3; i++) {
        // A few steps after the checkpoint in place, and a few before the end (a run killed after its
        // final checkpoint has nothing left to resume); odd kills wait for a checkpoint being
        // written (its temporary folder) to land inside the save.
        const k = saved + 1 + Math.floor(random() * 4)
        const midSave = i % 2 === 1
        const r = await killAt(
          args(out, i > 0),
          {},
          {
            // This run's progress is its checkpoints (metrics.jsonl can hold an earlier run's lines
            // until this one has started).
            when: () => {
              const at = savedStep(out)
              if (at < k) return false
              if (!midSave || at >= k + 1) return true
              return readdirSync(out).some((n) => n.startsWith('.checkpoint.'))
            },
            fallbackMs: 60_000,
          },
        )
        const what = `kill ${i} (after step ${k}${midSave ? ', in a save' : ''})`
        const step = checkpointStep(out, what)
        if (!r.killed) {
          // It finished first: nothing more to piece together.
          expect(r.status, r.stderr).toBe(0)
          pieced.push(...events(r.stdout).filter((e) => e.event === 'step' || e.event === 'eval'))
          saved = STEPS
          break
        }
        kills++
        if (readdirSync(out).some((n) => n.startsWith('.checkpoint.'))) inSave++
        // Whole, and at or past the one the run resumed from (a kill cannot take a checkpoint back).
        expect(step, what).toBeDefined()
        expect(step!, what).toBeGreaterThanOrEqual(Math.max(saved, 1))
        const mine = events(r.stdout)
        if (i > 0) expect(mine[0], what).toMatchObject({ event: 'start', start_step: saved })
        // What this run printed up to its checkpoint is part of the curve; the rest is redone.
        pieced.push(
          ...mine.filter(
            (e) => (e.event === 'step' || e.event === 'eval') && e.step! > saved && e.step! <= step!,
          ),
        )
        saved = step!
      }
      if (saved < STEPS) {
        const last = await run(args(out, true))
        expect(last.status, last.stderr).toBe(0)
        const mine = events(last.stdout)
        expect(mine[0]).toMatchObject({ event: 'start', start_step: saved })
        pieced.push(...mine.filter((e) => e.event === 'step' || e.event === 'eval'))
      }
      console.log(`finetune: ${kills} kills of a ${STEPS}-step run (${inSave} inside a save), each resumed`)
      expect(kills).toBeGreaterThan(0)
      expect(pieced.map(curve)).toEqual(refCurve)
      // metrics.jsonl tells the one story too, and the outputs are the uninterrupted run's.
      expect(metricsCurve(out)).toEqual(metricsCurve(refOut))
      expect(readFileSync(path.join(out, 'adapter_model.safetensors'))).toEqual(
        readFileSync(path.join(refOut, 'adapter_model.safetensors')),
      )
      expect(leftovers(out)).toEqual([])
    },
    timeoutFor(KILLS_HERE * 2 + 2),
  )
})
