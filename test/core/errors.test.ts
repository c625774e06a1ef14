import { describe, expect, it } from 'vitest'
import { ConfigError, option, UsageError } from '../../src/core/errors.js'

describe('KilnError', () => {
  it('is one line whatever reaches its message', () => {
    const err = new ConfigError('config.json: "model_type" evil\nkiln: forged line\r\u2028\u2029\u0085 end')
    expect(err.message).toBe('config.json: "model_type" evil\\nkiln: forged line\\r\\u2028\\u2029\\u0085 end')
  })
  it('keeps its option marks through the escaping', () => {
    const err = new UsageError(`${option('topP')} must be in (0, 1], got "a\nb"`)
    expect(err.message).toBe('topP must be in (0, 1], got "a\\nb"')
    expect(err.options).toEqual(['topP'])
  })
})
