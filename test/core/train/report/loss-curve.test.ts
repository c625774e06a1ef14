// The loss-curve SVG: a polyline per series with finite coordinates inside the picture, axes with
// ticks, a legend, an escaped title; empty, single-point, diverged and very long runs.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  downsample,
  lossCurveSvg,
  MAX_POINTS_PER_SERIES,
  writeLossCurve,
} from '../../../../src/core/train/report/loss-curve.js'
import type { MetricsRecord } from '../../../../src/core/train/report/metrics-file.js'
import { makeTempDir, removeTempDirs } from '../../../helpers/cli.js'

afterAll(removeTempDirs)

const step = (n: number, loss: number): MetricsRecord => ({
  type: 'step',
  step: n,
  totalSteps: 100,
  loss,
  lr: 1e-4,
  gradNorm: 1,
  tokens: 10,
  tokensPerSecond: 100,
  elapsedMs: 0,
  etaMs: 0,
})
const evalAt = (n: number, loss: number): MetricsRecord => ({ type: 'eval', step: n, loss })

/** Each series' points, by its data-series name. */
function series(svg: string): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>()
  for (const m of svg.matchAll(/<polyline [^>]*data-series="([^"]+)"[^>]*points="([^"]*)"/g))
    out.set(
      m[1],
      m[2].split(' ').map((p) => p.split(',').map(Number) as [number, number]),
    )
  return out
}

function expectWellFormed(svg: string, width = 800, height = 450): void {
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
  expect(svg).not.toMatch(/NaN|Infinity|undefined/)
  // Every number in an attribute is finite.
  for (const m of svg.matchAll(/="(-?[\d.]+(?:[ ,]-?[\d.]+)*)"/g))
    for (const n of m[1].split(/[ ,]/)) expect(Number.isFinite(Number(n)), m[0]).toBe(true)
  for (const pts of series(svg).values())
    for (const [x, y] of pts) {
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThanOrEqual(width)
      expect(y).toBeGreaterThanOrEqual(0)
      expect(y).toBeLessThanOrEqual(height)
    }
  // Tags balance (the picture parses as XML): every opened element is closed or self-closed.
  const open = [...svg.matchAll(/<([a-z]+)[\s>]/g)].map((m) => m[1])
  const selfClosed = [...svg.matchAll(/<([a-z]+)\b[^>]*\/>/g)].length
  const closed = [...svg.matchAll(/<\/([a-z]+)>/g)].length
  expect(open.length).toBe(selfClosed + closed)
}

describe('loss curve', () => {
  it('draws training and eval loss with axes, ticks, labels and a legend', () => {
    const records = [
      ...Array.from({ length: 50 }, (_, i) => step(i + 1, 3 * Math.exp(-i / 20) + 0.5)),
      evalAt(25, 1.6),
      evalAt(50, 1.1),
    ]
    const svg = lossCurveSvg(records, { title: 'qwen2 on train.jsonl' })
    expectWellFormed(svg)
    const s = series(svg)
    expect([...s.keys()]).toEqual(['train loss', 'eval loss'])
    expect(s.get('train loss')).toHaveLength(50)
    expect(s.get('eval loss')).toHaveLength(2)
    // Loss falls, so the curve goes down the page (SVG y grows downwards).
    const train = s.get('train loss')!
    expect(train[0][1]).toBeLessThan(train[49][1])
    expect(train[0][0]).toBeLessThan(train[49][0])
    expect(svg).toContain('qwen2 on train.jsonl')
    expect(svg).toMatch(/>step</)
    expect(svg).toMatch(/>loss</)
    expect(svg).toMatch(/class="legend"/)
    expect([...svg.matchAll(/class="tick"/g)].length).toBeGreaterThanOrEqual(6)
  })

  it('escapes the title', () => {
    const svg = lossCurveSvg([step(1, 1), step(2, 0.5)], { title: `a<b & "c" 'd'>` })
    expect(svg).toContain('a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;')
    expect(svg).not.toContain('a<b')
    expectWellFormed(svg)
  })

  it('draws no series for no points, and a marked point for one', () => {
    const empty = lossCurveSvg([])
    expectWellFormed(empty)
    expect(series(empty).size).toBe(0)
    expect(empty).toContain('no finite loss')
    const one = lossCurveSvg([step(7, 2.5)])
    expectWellFormed(one)
    expect(series(one).get('train loss')).toHaveLength(1)
    expect(one).toMatch(/<circle /)
  })

  it('skips NaN and infinite losses (and null, as metrics.jsonl stores them)', () => {
    const records = [
      step(1, 2),
      step(2, Number.NaN),
      step(3, Number.POSITIVE_INFINITY),
      step(4, null as unknown as number),
      step(5, 1),
      evalAt(5, Number.NEGATIVE_INFINITY),
    ]
    const svg = lossCurveSvg(records)
    expectWellFormed(svg)
    expect(series(svg).get('train loss')).toHaveLength(2)
    expect(series(svg).has('eval loss')).toBe(false)
    expectWellFormed(lossCurveSvg([step(1, Number.NaN)]))
  })

  it('thins a long run to at most 2000 points per series, keeping the spikes', () => {
    const records = Array.from({ length: 100_000 }, (_, i) =>
      step(i + 1, i === 54_321 ? 50 : 1 + (i % 7) / 100),
    )
    const svg = lossCurveSvg(records)
    expectWellFormed(svg)
    const train = series(svg).get('train loss')!
    expect(train.length).toBeLessThanOrEqual(MAX_POINTS_PER_SERIES)
    expect(train.length).toBeGreaterThan(MAX_POINTS_PER_SERIES / 2)
    // The spike is the highest point drawn (the smallest y).
    expect(Math.min(...train.map((p) => p[1]))).toBeLessThan(60)
    const pts = downsample(
      records.map((r) => [r.step, r.loss]),
      10,
    )
    expect(pts.length).toBeLessThanOrEqual(10)
    expect(pts.map((p) => p[0])).toEqual([...pts.map((p) => p[0])].sort((a, b) => a - b))
    expect(pts.some((p) => p[1] === 50)).toBe(true)
  })

  it('keeps tiny and identical losses on a readable axis', () => {
    expectWellFormed(lossCurveSvg([step(1, 1e-9), step(2, 1.0000001e-9)]))
    expectWellFormed(lossCurveSvg([step(1, 0.5), step(2, 0.5), evalAt(2, 0.5)]))
    expectWellFormed(lossCurveSvg([step(1, 1e6), step(1_000_000, 1e6 + 1e-6)]))
  })

  it('is written atomically', () => {
    const dir = makeTempDir('kiln-curve-')
    const file = path.join(dir, 'loss-curve.svg')
    writeLossCurve(file, [step(1, 2), step(2, 1)], { title: 'run' })
    writeLossCurve(file, [step(1, 2), step(2, 1), step(3, 0.5)], { title: 'run' }) // replaces it
    expect(series(readFileSync(file, 'utf8')).get('train loss')).toHaveLength(3)
    expect(readdirSync(dir)).toEqual(['loss-curve.svg'])
  })
})
