// "Did you mean …?" for near misses: edit distance, and a bare key name matched to its section.

/** Edit distance counting a swap of two neighbouring letters as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidate closest to `wrong`, if close enough to be a typo: at most a third of its length
 * away (and at least 2), or a candidate whose last dotted part is `wrong` (`threads` → `runtime.threads`).
 * `-` and `_` count as the same letter, so `max-new-tokens` finds `max_new_tokens`.
 */
export function nearest(wrong: string, candidates: string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll('-', '_')
  const w = norm(wrong)
  const bySuffix = candidates.find((c) => norm(c).split('.').pop() === w)
  if (bySuffix) return bySuffix
  const limit = Math.max(2, Math.floor(w.length / 3))
  let best: string | undefined
  let bestD = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    const n = norm(c)
    // The distance is at least the difference in length: a name far longer or shorter than every
    // candidate (a key of a megabyte in a hostile file) is not measured (its table would be huge).
    if (Math.abs(n.length - w.length) > limit) continue
    const d = editDistance(w, n)
    if (d < bestD) {
      best = c
      bestD = d
    }
  }
  return bestD <= limit ? best : undefined
}

/** `; did you mean "x"?` or nothing. */
export function didYouMean(wrong: string, candidates: string[]): string {
  const n = nearest(wrong, candidates)
  return n ? `; did you mean "${n}"?` : ''
}
