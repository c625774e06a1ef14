// Sizes on the command line (--kv-memory): units as Docker, Kubernetes and people write them.
import { describe, expect, it } from 'vitest'
import { parseSize } from '../../src/cli/size.js'

describe('parseSize', () => {
  it('reads decimal and binary units', () => {
    expect(parseSize('1048576', '--x')).toBe(1048576)
    expect(parseSize('2GiB', '--x')).toBe(2 * 2 ** 30)
    expect(parseSize('2g', '--x')).toBe(2 * 2 ** 30)
    expect(parseSize('800MB', '--x')).toBe(800e6)
    expect(parseSize(' 1.5 MiB ', '--x')).toBe(1.5 * 2 ** 20)
    expect(parseSize('64KiB', '--x')).toBe(65536)
  })

  it('refuses what is not a size, naming the flag', () => {
    for (const bad of ['', 'GiB', '-1G', '2XB', '1e9', '0', '0.1B', '99999999999TB'])
      expect(() => parseSize(bad, '--kv-memory'), bad).toThrow(
        /^--kv-memory (must be a size|is out of range)/,
      )
  })
})
