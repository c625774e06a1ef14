// Hostile settings files (the fuzz target test/fuzz/settings.fuzz.test.ts): the reader answers with
// a one-line SettingsError, quickly, whatever the file holds.

import { describe, expect, it } from 'vitest'
import * as yaml from 'yaml'
import { MAX_SETTINGS_CHARS } from '../../../src/cli/settings/light-load.js'
import { parseSettings } from '../../../src/cli/settings/load.js'
import { nearest } from '../../../src/cli/settings/suggest.js'
import { settingTypes } from '../../../src/cli/settings/types.js'
import { SettingsError } from '../../../src/core/errors.js'

const types = await settingTypes()

function refusal(text: string): string {
  const t0 = performance.now()
  try {
    parseSettings(yaml, types, text, 'kiln.yaml')
  } catch (e) {
    expect(e).toBeInstanceOf(SettingsError)
    const message = (e as SettingsError).message
    expect(message).not.toMatch(/[\r\n]/)
    expect(message.length).toBeLessThan(400)
    expect(performance.now() - t0).toBeLessThan(5_000)
    return message
  }
  throw new Error('expected a SettingsError')
}

describe('hostile settings files', () => {
  it('a long name is quoted short, and not measured against every key (its table would be huge)', () => {
    const long = 'x'.repeat(200_000)
    expect(refusal(`version: 1\n? ${long}\n: 1\n`)).toMatch(
      /^kiln\.yaml:2: unknown section "x+…" \(sections: /,
    )
    expect(refusal(`version: 1\nruntime:\n  ? ${'threads'.repeat(30_000)}\n  : 1\n`)).toMatch(
      /^kiln\.yaml:3: unknown setting "runtime\.[a-z]+…"$/,
    )
    expect(nearest('threads'.repeat(30_000), ['runtime.threads'])).toBeUndefined()
    expect(nearest('runtim', ['runtime', 'hub'])).toBe('runtime')
  })

  it('a long value, a name with a line break and a key that is a collection are shown on one line', () => {
    expect(refusal(`version: 1\nruntime:\n  device: "${'x\\n'.repeat(50_000)}"\n`)).toMatch(
      /^kiln\.yaml:3: runtime\.device must be one of auto, cpu, cuda \(got "(x\\n)+x?…"\)$/,
    )
    expect(refusal('version: 1\n"run\\ntime":\n  device: cpu\n')).toBe(
      'kiln.yaml:2: unknown section "run\\ntime"; did you mean "runtime"?',
    )
    expect(refusal(`version: 1\n? ${'{a: '.repeat(400)}1${'}'.repeat(400)}\n: 1\n`)).toMatch(
      /^kiln\.yaml:2: unknown section "\{…\}"/,
    )
    expect(refusal("version: '1'\n")).toBe(
      'kiln.yaml:1: version "1" is not one this kiln reads (it reads version 1)',
    )
  })

  it('duplicate keys are found without comparing every key with every other', () => {
    expect(refusal('version: 1\nruntime:\n  threads: 1\n  threads: 2\n')).toBe(
      'kiln.yaml:4: Map keys must be unique',
    )
    expect(refusal('version: 1\nruntime:\n  threads: 1\nruntime:\n  threads: 2\n')).toBe(
      'kiln.yaml:4: Map keys must be unique',
    )
    const many = `version: 1\nruntime:\n${Array.from({ length: 10_000 }, (_, i) => `  k${i}: ${i}\n`).join('')}`
    expect(refusal(many)).toBe('kiln.yaml:3: unknown setting "runtime.k0"')
  })

  it('a file past the size limit is refused before it is parsed', () => {
    const big = `version: 1\n${'# comment\n'.repeat(MAX_SETTINGS_CHARS / 10)}`
    expect(refusal(big)).toBe(
      `kiln.yaml: the file is ${big.length} characters long; a settings file may have at most ${MAX_SETTINGS_CHARS}`,
    )
  })
})
