import { describe, expect, it } from 'vitest'
import { quote, shown } from '../../../src/core/util/shown.js'

describe('shown', () => {
  it('spells small values as JSON does', () => {
    for (const v of [1, -2.5, true, null, 'a"b', [1, [2, 'x']], { a: 1, 'b c': [null] }, {}, []])
      expect(shown(v)).toBe(JSON.stringify(v))
    expect(shown(12n)).toBe('12n')
    expect(shown(undefined)).toBe('undefined')
  })
  it('keeps line breaks and other control characters on one line', () => {
    const s = shown('a\nb\r\u2028c\u0000')
    expect(s).toBe('"a\\nb\\r\\u2028c\\u0000"')
    expect(shown({ 'k\n': 'v\n' })).not.toMatch(/[\n\r\u2028\u2029]/)
  })
  it('cuts long strings, wide arrays and wide objects', () => {
    expect(shown('x'.repeat(100_000_000))).toHaveLength(83)
    expect(quote('x'.repeat(1000), 10)).toBe('"xxxxxxxxxx…"')
    expect(shown(new Array(1_000_000).fill(7)).length).toBeLessThanOrEqual(83)
    const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]))
    expect(shown(wide).endsWith('…')).toBe(true)
  })
  it('shows a value nested 1,000,000 deep without overflowing the stack', () => {
    let deep: unknown = 1
    for (let i = 0; i < 1_000_000; i++) deep = [deep]
    expect(shown(deep)).toBe(`${'['.repeat(80)}…`)
    let obj: unknown = 1
    for (let i = 0; i < 100_000; i++) obj = { a: obj }
    expect(shown(obj).length).toBeLessThanOrEqual(83)
  })
})
