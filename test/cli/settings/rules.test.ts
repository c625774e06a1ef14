// The settings rules (rules.ts) that let start-up accept values without zod: a rule may only accept
// what zod accepts, giving zod's value; every key has one; and the table the build wrote is the one
// this code derives.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { checkByRule, ruleFor } from '../../../src/cli/settings/rules.js'
import { buildRulesTable } from '../../../src/cli/settings/rules-table.js'
import { settingTypes } from '../../../src/cli/settings/types.js'
import { fromText } from '../../../src/cli/settings/values.js'
import { ROOT } from '../../helpers/cli.js'

const NUMBERS = [0, -0, 1, -1, 0.5, 1.5, 2, 65535, 65536, 1e3, 1e21, 2 ** 53, 2 ** 53 - 1, -(2 ** 53)]
const ODD_NUMBERS = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE]
const STRINGS = [
  ...[
    '',
    ' ',
    'a',
    'auto',
    'cpu',
    'cuda',
    'CUDA',
    'f32',
    'bf16',
    'no',
    'fp16',
    'native',
    'accelerate',
    'kiln',
    'vllm',
    'KILN',
    'lora',
    'full',
    'cosine',
    'linear',
    'constant',
  ],
  ...['1', '1.5', 'true', 'hf_abc', '/abs/path', './rel', 'é', '\u00a0'],
  ...['https://huggingface.co', 'http://localhost:8080', 'https://hf-mirror.com/', 'HTTP://X.Y/z'],
  ...['https://a.b:65535', 'https://a.b:65536', 'https://a.b:0', 'https://a.b:080', 'ftp://x', 'http:x'],
  ...['http://', 'http://a b', ' http://x', 'http://x ', 'http://[::1]:80', 'http://a..b', 'http://-a'],
  ...['http://a.-b', 'https://x.y/p?q=1', 'https://u@x.y', 'http://x.y/%20', 'ws://x.y', 'https://1.2.3.4'],
  ...['javascript://x', 'file:///etc', 'https://xn--nxasmq6b.com', 'https://a_b.c', 'http://x.y/a/b/'],
]
const VALUES: unknown[] = [...NUMBERS, ...ODD_NUMBERS, ...STRINGS, true, false, null, undefined, [], {}]

describe('settings rules', () => {
  it('accept only what zod accepts, and give the value zod gives', async () => {
    const { rules } = await buildRulesTable()
    for (const [key, t] of (await settingTypes()).keys) {
      const rule = rules[key]
      let accepted = 0
      for (const v of VALUES) {
        const byRule = checkByRule(rule, v)
        if (!byRule) continue
        accepted++
        const byZod = t.zod.safeParse(v)
        expect(byZod.success, `${key} ${String(v)}`).toBe(true)
        expect(
          Object.is(byZod.data, byRule.value) || byZod.data === byRule.value,
          `${key} ${String(v)}`,
        ).toBe(true)
      }
      // Text as it comes from the environment.
      for (const s of STRINGS) {
        const v = fromText(t, s)
        const byRule = checkByRule(rule, v)
        if (byRule) expect(t.zod.safeParse(v).data, `${key} ${s}`).toEqual(byRule.value)
      }
      expect(accepted, key).toBeGreaterThan(0)
    }
  })

  it('cover every key, so a hand-edited file is read without zod', async () => {
    const [{ rules }, types] = await Promise.all([buildRulesTable(), settingTypes()])
    expect(Object.keys(rules).sort()).toEqual([...types.keys.keys()].sort())
  })

  it('leave to zod what they cannot state', () => {
    expect(ruleFor(z, z.string().regex(/^a/))).toBeUndefined()
    expect(ruleFor(z, z.string().max(3))).toBeUndefined()
    expect(ruleFor(z, z.number().multipleOf(2))).toBeUndefined()
    expect(ruleFor(z, z.url({ hostname: /^x$/ }))).toBeUndefined()
    expect(ruleFor(z, z.url({ protocol: /^https$/, normalize: true }))).toBeUndefined()
    expect(ruleFor(z, z.enum(['a', 'b']))).toEqual({ kind: 'enum', options: ['a', 'b'] })
    expect(ruleFor(z, z.url({ protocol: /^https$/ }))).toEqual({ kind: 'url', protocol: ['^https$', ''] })
    const https = ruleFor(z, z.url({ protocol: /^https$/ }))
    expect(https && checkByRule(https, 'http://x.y')).toBeUndefined()
    expect(https && checkByRule(https, 'https://x.y')).toEqual({ value: 'https://x.y' })
  })

  it('were written by the build for this code', async () => {
    // npm test builds first; the compiled loader checks the table's code hash against dist.
    const file = path.join(ROOT, 'dist', 'cli', 'settings', 'settings-rules.json')
    expect(existsSync(file)).toBe(true)
    const dist = await import(path.join(ROOT, 'dist', 'cli', 'settings', 'rules-table.js'))
    const table = dist.loadRulesTable()
    expect(table, 'the table is missing or stale: run npm run build').toBeDefined()
    expect(table.rules).toEqual((await buildRulesTable()).rules)
  })
})
