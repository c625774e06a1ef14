// The baseline the default model must beat: a token bigram model fitted on the training split, given
// its best shot. Two smoothings are fitted, each with its parameters chosen on a development tenth
// of the training split (fit on the other nine tenths, pick the best on the tenth, refit on all),
// and the better of the two on that development tenth is the baseline:
//   - interpolated Kneser–Ney (absolute discount D, the continuation unigram, floored by a uniform ε);
//   - Jelinek–Mercer: λ·ML bigram + (1 − λ)·add-one unigram.
// Sequences are arrays of token ids; only pairs inside a sequence count (as the model sees them).

const D_GRID = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1]
const EPS_GRID = [1e-4, 1e-3, 1e-2]
const LAMBDA_GRID = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99]

function countPairs(seqs, V) {
  const pair = new Map() // v * V + w → count
  const ctx = new Float64Array(V) // c(v·)
  const uni = new Float64Array(V) // c(w) as a target
  for (const s of seqs)
    for (let i = 1; i < s.length; i++) {
      const k = s[i - 1] * V + s[i]
      pair.set(k, (pair.get(k) ?? 0) + 1)
      ctx[s[i - 1]]++
      uni[s[i]]++
    }
  const followers = new Float64Array(V) // N1+(v·): distinct words after v
  const preceders = new Float64Array(V) // N1+(·w): distinct words before w
  for (const k of pair.keys()) {
    followers[Math.floor(k / V)]++
    preceders[k % V]++
  }
  return { V, pair, ctx, uni, followers, preceders, types: pair.size }
}

/** log P(w | v) under each smoothing: returns a function (v, w) → natural log-probability. */
function kneserNey(c, D, eps) {
  const { V } = c
  return (v, w) => {
    const cont = (1 - eps) * (c.preceders[w] / c.types) + eps / V
    if (c.ctx[v] === 0) return Math.log(cont)
    const n = c.pair.get(v * V + w) ?? 0
    return Math.log((Math.max(n - D, 0) + D * c.followers[v] * cont) / c.ctx[v])
  }
}

function jelinekMercer(c, lambda) {
  const { V } = c
  let total = 0
  for (let w = 0; w < V; w++) total += c.uni[w]
  return (v, w) => {
    const uni = (c.uni[w] + 1) / (total + V)
    if (c.ctx[v] === 0) return Math.log(uni)
    const n = c.pair.get(v * V + w) ?? 0
    return Math.log(lambda * (n / c.ctx[v]) + (1 - lambda) * uni)
  }
}

/** Mean negative log-likelihood per predicted token (every token after the first of each sequence). */
export function meanNll(logp, seqs) {
  let nll = 0
  let n = 0
  for (const s of seqs)
    for (let i = 1; i < s.length; i++) {
      nll -= logp(s[i - 1], s[i])
      n++
    }
  return nll / n
}

const smoothings = [
  {
    name: 'Kneser–Ney',
    grid: D_GRID.flatMap((D) => EPS_GRID.map((eps) => ({ D, eps }))),
    make: (c, p) => kneserNey(c, p.D, p.eps),
  },
  {
    name: 'Jelinek–Mercer',
    grid: LAMBDA_GRID.map((lambda) => ({ lambda })),
    make: (c, p) => jelinekMercer(c, p.lambda),
  },
]

/**
 * Fits the baseline on `train` (sequences of ids, vocabulary V): tunes each smoothing on every tenth
 * sequence, keeps the better. Returns { name, params, devNll, logp }.
 */
export function fitBigram(train, V) {
  const fit = train.filter((_, i) => i % 10 !== 0)
  const dev = train.filter((_, i) => i % 10 === 0)
  const counts = countPairs(fit, V)
  let best
  for (const s of smoothings)
    for (const p of s.grid) {
      const nll = meanNll(s.make(counts, p), dev)
      if (!best || nll < best.devNll) best = { smoothing: s, params: p, devNll: nll }
    }
  const logp = best.smoothing.make(countPairs(train, V), best.params)
  return { name: best.smoothing.name, params: best.params, devNll: best.devNll, logp }
}
