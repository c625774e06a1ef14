// Central finite differences for gradient checks of f32 kernels. A backward op's gradient g of
// L(x) = <dy, f(x)> is checked along a random direction u: the numeric side is
// <dy, f(x⁺) − f(x⁻)> with x± = x ± h·u rounded to f32, the analytic side <g, x⁺ − x⁻> over the
// step actually taken (after rounding), so the rounding of x± cancels out of the comparison.

/** Σ a·b in double. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`dot: lengths ${a.length} and ${b.length} differ`)
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

/** A direction with entries uniform in [-1, 1). */
export function randomDirection(n: number, rand: () => number): Float64Array {
  const u = new Float64Array(n)
  for (let i = 0; i < n; i++) u[i] = rand() * 2 - 1
  return u
}

export interface Directional {
  /** <dy, f(x⁺) − f(x⁻)> */
  numeric: number
  /** <grad, x⁺ − x⁻> */
  analytic: number
  /** |numeric − analytic| / max(|numeric|, |analytic|) */
  error: number
}

/**
 * Compares grad (the gradient of <dy, f(x)> at x, as the backward op computed it) with central
 * differences of f along u with step h (relative to u's entries).
 */
export function directionalCheck(
  f: (x: Float32Array) => Float32Array,
  x: Float32Array,
  grad: ArrayLike<number>,
  dy: ArrayLike<number>,
  u: ArrayLike<number>,
  h: number,
): Directional {
  const xp = new Float32Array(x.length)
  const xm = new Float32Array(x.length)
  for (let i = 0; i < x.length; i++) {
    xp[i] = x[i] + h * u[i]
    xm[i] = x[i] - h * u[i]
  }
  const fp = f(xp)
  const fm = f(xm)
  let numeric = 0
  for (let i = 0; i < fp.length; i++) numeric += dy[i] * (fp[i] - fm[i])
  let analytic = 0
  for (let i = 0; i < x.length; i++) analytic += grad[i] * (xp[i] - xm[i])
  const scale = Math.max(Math.abs(numeric), Math.abs(analytic), Number.MIN_VALUE)
  return { numeric, analytic, error: Math.abs(numeric - analytic) / scale }
}
