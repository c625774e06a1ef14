// Turning a head's logits into scores: softmax, sigmoid, and the top k. Rows are a few labels
// (classification) or one vocabulary (fill-mask): small next to the encoder that made them.

/** softmax of one row, in double precision, as a fresh array. */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i]
  const out = new Float64Array(row.length)
  let sum = 0
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp(row[i] - max)
    sum += out[i]
  }
  for (let i = 0; i < row.length; i++) out[i] /= sum
  return out
}

export function sigmoid(row: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: row.length }, (_, i) => 1 / (1 + Math.exp(-row[i])))
}

/** Indices of the k largest values, largest first; ties keep the lower index first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const n = Math.min(k, values.length)
  if (n <= 0) return []
  if (n * 8 >= values.length) {
    return Array.from({ length: values.length }, (_, i) => i)
      .sort((a, b) => values[b] - values[a] || a - b)
      .slice(0, n)
  }
  // A sorted window of the best n so far: a vocabulary is scanned once, not sorted.
  const best: number[] = []
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (best.length === n && !(v > values[best[n - 1]])) continue
    let at = best.length < n ? best.length : n - 1
    while (at > 0 && v > values[best[at - 1]]) at--
    best.splice(at, 0, i)
    if (best.length > n) best.pop()
  }
  return best
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i
  return best
}

/** Row `r` of a row-major (rows, cols) array, as a view. */
export function rowOf(data: Float32Array, r: number, cols: number): Float32Array {
  return data.subarray(r * cols, (r + 1) * cols)
}
