// The loss-curve picture of a training run (training and eval loss against steps) as a standalone
// SVG, drawn from the run's metrics records: something to open in a browser or put in a model card
// without a plotting library.
import { writeAll, writeFileAtomic } from '../../util/files.js'
import type { MetricsRecord } from './metrics-file.js'

export interface LossCurveOptions {
  title?: string
  width?: number
  height?: number
}

/** Points a series keeps at most: more would only make a heavy file draw the same pixels. */
export const MAX_POINTS_PER_SERIES = 2000

type Point = [step: number, loss: number]

const MARGIN = { left: 64, right: 24, top: 44, bottom: 52 }
const TRAIN_COLOR = '#1f77b4'
const EVAL_COLOR = '#d62728'

/** The SVG text of the loss curve. Losses that are not finite (a diverged step) are left out. */
export function lossCurveSvg(records: readonly MetricsRecord[], opts: LossCurveOptions = {}): string {
  const width = opts.width ?? 800
  const height = opts.height ?? 450
  const title = opts.title ?? 'Training loss'
  const series = [
    { name: 'train loss', color: TRAIN_COLOR, points: pointsOf(records, 'step') },
    { name: 'eval loss', color: EVAL_COLOR, points: pointsOf(records, 'eval') },
  ].filter((s) => s.points.length > 0)
  const all = series.flatMap((s) => s.points)
  const plot = {
    x0: MARGIN.left,
    x1: width - MARGIN.right,
    y0: MARGIN.top,
    y1: height - MARGIN.bottom,
  }
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16">${escapeXml(title)}</text>`,
  ]
  if (all.length === 0) {
    parts.push(
      `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#666666">no finite loss recorded yet</text>`,
      '</svg>',
    )
    return `${parts.join('\n')}\n`
  }
  const xs = range(
    all.map((p) => p[0]),
    true,
  )
  const ys = range(
    all.map((p) => p[1]),
    false,
  )
  const sx = (x: number) => plot.x0 + ((x - xs.lo) / (xs.hi - xs.lo)) * (plot.x1 - plot.x0)
  const sy = (y: number) => plot.y1 - ((y - ys.lo) / (ys.hi - ys.lo)) * (plot.y1 - plot.y0)
  parts.push(...axes(plot, xs, ys, sx, sy))
  for (const s of series) {
    const pts = s.points.map(([x, y]) => `${num(sx(x))},${num(sy(y))}`).join(' ')
    parts.push(
      `<polyline class="series" data-series="${s.name}" fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts}"/>`,
    )
    // A lone point draws no line; eval points are few and matter one by one: mark them.
    if (s.points.length === 1 || s.color === EVAL_COLOR)
      for (const [x, y] of s.points)
        parts.push(`<circle cx="${num(sx(x))}" cy="${num(sy(y))}" r="3" fill="${s.color}"/>`)
  }
  parts.push(...legend(series, plot.x1), '</svg>')
  return `${parts.join('\n')}\n`
}

/** Writes the picture to `path` atomically (a reader never sees half of it). */
export function writeLossCurve(
  path: string,
  records: readonly MetricsRecord[],
  opts?: LossCurveOptions,
): void {
  const svg = lossCurveSvg(records, opts)
  writeFileAtomic(path, (fd) => writeAll(fd, Buffer.from(svg, 'utf8')))
}

function pointsOf(records: readonly MetricsRecord[], type: MetricsRecord['type']): Point[] {
  const points: Point[] = []
  for (const r of records)
    if (r.type === type && Number.isFinite(r.step) && Number.isFinite(r.loss)) points.push([r.step, r.loss])
  points.sort((a, b) => a[0] - b[0])
  return downsample(points, MAX_POINTS_PER_SERIES)
}

/**
 * At most `max` points: the series is cut into max/2 buckets and each keeps its lowest and highest
 * loss, in step order, so spikes (what one looks for in a loss curve) survive the thinning.
 */
export function downsample(points: Point[], max: number): Point[] {
  if (points.length <= max) return points
  const buckets = Math.floor(max / 2)
  const out: Point[] = []
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * points.length) / buckets)
    const to = Math.floor(((b + 1) * points.length) / buckets)
    let lo = from
    let hi = from
    for (let i = from; i < to; i++) {
      if (points[i][1] < points[lo][1]) lo = i
      if (points[i][1] > points[hi][1]) hi = i
    }
    if (lo === hi) out.push(points[lo])
    else out.push(points[Math.min(lo, hi)], points[Math.max(lo, hi)])
  }
  return out
}

interface Range {
  lo: number
  hi: number
  ticks: number[]
}

/** The axis range, widened to round tick values; a single value gets room around it. */
function range(values: number[], integer: boolean): Range {
  let lo = Math.min(...values)
  let hi = Math.max(...values)
  if (lo === hi) {
    const pad = integer ? 1 : Math.abs(lo) * 0.1 || 1
    lo -= pad
    hi += pad
  }
  let step = niceStep((hi - lo) / 5)
  if (integer) step = Math.max(1, Math.round(step))
  lo = Math.floor(lo / step) * step
  hi = Math.ceil(hi / step) * step
  const ticks: number[] = []
  // The cap guards values so close together that adding the step no longer changes a float.
  for (let i = 0; lo + i * step <= hi + step / 2 && i <= 20; i++) ticks.push(round(lo + i * step, step))
  if (!(hi > lo)) hi = lo + 1
  return { lo, hi, ticks: [...new Set(ticks)] }
}

/** 1, 2 or 5 times a power of ten, near `rough`. */
function niceStep(rough: number): number {
  const p = 10 ** Math.floor(Math.log10(rough))
  const f = rough / p
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p
}

/** `v` without float noise (0.30000000000000004), to the precision the tick step has. */
function round(v: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1)
  return Number(v.toFixed(Math.min(decimals, 12)))
}

function axes(
  plot: { x0: number; x1: number; y0: number; y1: number },
  xs: Range,
  ys: Range,
  sx: (x: number) => number,
  sy: (y: number) => number,
): string[] {
  const out = [
    `<g class="axes" stroke="#333333" fill="none">`,
    `<line x1="${plot.x0}" y1="${plot.y1}" x2="${plot.x1}" y2="${plot.y1}"/>`,
    `<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x0}" y2="${plot.y1}"/>`,
    '</g>',
  ]
  for (const t of xs.ticks) {
    const x = num(sx(t))
    out.push(
      `<line x1="${x}" y1="${plot.y1}" x2="${x}" y2="${plot.y1 + 5}" stroke="#333333"/>`,
      `<text class="tick" x="${x}" y="${plot.y1 + 18}" text-anchor="middle">${t}</text>`,
    )
  }
  for (const t of ys.ticks) {
    const y = num(sy(t))
    out.push(
      `<line x1="${plot.x0 - 5}" y1="${y}" x2="${plot.x1}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text class="tick" x="${plot.x0 - 8}" y="${num(sy(t) + 4)}" text-anchor="end">${t}</text>`,
    )
  }
  const midX = num((plot.x0 + plot.x1) / 2)
  const midY = num((plot.y0 + plot.y1) / 2)
  out.push(
    `<text x="${midX}" y="${plot.y1 + 40}" text-anchor="middle">step</text>`,
    `<text x="16" y="${midY}" text-anchor="middle" transform="rotate(-90 16 ${midY})">loss</text>`,
  )
  return out
}

function legend(series: { name: string; color: string }[], right: number): string[] {
  const out = [`<g class="legend">`]
  series.forEach((s, i) => {
    const y = MARGIN.top + 12 + i * 18
    out.push(
      `<line x1="${right - 130}" y1="${y}" x2="${right - 106}" y2="${y}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${right - 100}" y="${y + 4}">${s.name}</text>`,
    )
  })
  out.push('</g>')
  return out
}

const num = (v: number) => String(Math.round(v * 10) / 10)

export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string,
  )
}
