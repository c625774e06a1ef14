// Duplicate-key detection over raw JSON text (JSON.parse keeps the last of two equal keys silently).
import { describe, expect, it } from 'vitest'
import { findDuplicateKey } from '../../../src/core/formats/json-keys.js'

describe('findDuplicateKey', () => {
  it('finds none in valid, distinct JSON', () => {
    expect(findDuplicateKey('{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}')).toBeUndefined()
    expect(findDuplicateKey('[1, "x", {"k": "v"}]')).toBeUndefined()
    expect(findDuplicateKey('{}')).toBeUndefined()
  })

  it('finds top-level and nested duplicates', () => {
    expect(findDuplicateKey('{"a": 1, "b": 2, "a": 3}')).toEqual({ key: 'a', path: [] })
    expect(findDuplicateKey('{"x": {"k": 1, "k": 2}}')).toEqual({ key: 'k', path: ['x'] })
    expect(findDuplicateKey('{"x": [{"k": 1, "k": 2}]}')).toEqual({ key: 'k', path: ['x', ''] })
  })

  it('is not fooled by strings that look like structure, and unescapes keys', () => {
    expect(findDuplicateKey('{"a": "{\\"a\\": 1, ", "b": "\\\\", "c": ",\\"a\\""}')).toBeUndefined()
    expect(findDuplicateKey('{"é": 1, "\\u00e9": 2}')).toEqual({ key: 'é', path: [] })
    expect(findDuplicateKey('{"a\\"b": 1, "a\\u0022b": 2}')).toEqual({ key: 'a"b', path: [] })
  })
})
