// Pooling token vectors (T, C) into one (C) per text, as sentence-transformers' Pooling module:
// the first token, the max, the mean (or mean × √T / T), the last token — over the tokens from
// `from` on (a prompt left out of the pooling) — and L2 normalisation as torch's F.normalize.
// O(T·C) per text against the encoder's O(T·C²·L): not where the time goes.
import type { PoolingMode } from './sentence-transformers.js'

/** (C) from rows [from, T) of `rows` (T, C). */
export function pool(rows: Float32Array, T: number, C: number, mode: PoolingMode, from = 0): Float32Array {
  const out = new Float32Array(C)
  const first = Math.min(from, T - 1)
  if (mode === 'cls') return rows.slice(0, C)
  if (mode === 'last') return rows.slice((T - 1) * C, T * C)
  if (mode === 'max') {
    out.fill(Number.NEGATIVE_INFINITY)
    for (let t = first; t < T; t++) for (let c = 0; c < C; c++) out[c] = Math.max(out[c], rows[t * C + c])
    return out
  }
  const count = T - from
  const acc = new Float64Array(C)
  for (let t = from; t < T; t++) for (let c = 0; c < C; c++) acc[c] += rows[t * C + c]
  // sentence-transformers divides by the count clamped at 1e-9: a text that is all prompt pools to 0.
  const div = mode === 'mean' ? Math.max(count, 1e-9) : Math.sqrt(Math.max(count, 1e-9))
  for (let c = 0; c < C; c++) out[c] = acc[c] / div
  return out
}

/** Several modes side by side, in the order given. */
export function poolAll(
  rows: Float32Array,
  T: number,
  C: number,
  modes: readonly PoolingMode[],
  from = 0,
): Float32Array {
  if (modes.length === 1) return pool(rows, T, C, modes[0], from)
  const out = new Float32Array(C * modes.length)
  modes.forEach((m, i) => {
    out.set(pool(rows, T, C, m, from), i * C)
  })
  return out
}

/** x / max(‖x‖₂, 1e-12), in place. */
export function normalizeL2(x: Float32Array): Float32Array {
  let ss = 0
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i]
  const inv = 1 / Math.max(Math.sqrt(ss), 1e-12)
  for (let i = 0; i < x.length; i++) x[i] *= inv
  return x
}
