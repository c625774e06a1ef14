// The `kiln config` wizard through ink-testing-library: keys in, answers out. Enter throughout
// accepts the proposals; bad values are refused inline; secrets are hidden; the summary can go back
// or cancel.
import { render } from 'ink-testing-library'
import { createElement } from 'react'
import { describe, expect, it } from 'vitest'
import { ConfigWizard, type WizardResult } from '../../../src/cli/config-wizard/wizard.js'
import { detectedDefaults, settingTypes } from '../../../src/cli/settings/index.js'

const ENTER = '\r'
const DOWN = '\u001B[B'
const ESC = '\u001B'
const BACKSPACE = '\u007F'

async function until(check: () => boolean, what: () => string): Promise<void> {
  const end = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting; last frame:\n${what()}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** ink subscribes a new screen's input handlers after it renders: give it a moment before typing. */
const settle = () => new Promise((r) => setTimeout(r, 50))

async function start(initial?: Map<string, unknown>) {
  const types = await settingTypes()
  const keys = [...types.keys.values()]
  let result: WizardResult | undefined
  const app = render(
    createElement(ConfigWizard, {
      keys,
      initial: initial ?? detectedDefaults(process.env),
      path: '/tmp/kiln-test/config.yaml',
      exists: false,
      color: false,
      onDone: (r) => {
        result = r
      },
    }),
  )
  const frame = () => app.lastFrame() ?? ''
  /** Types `input` and waits for the screen to show `expect`. */
  const press = async (input: string, expectText: string | RegExp) => {
    await settle()
    app.stdin.write(input)
    await until(
      () => (typeof expectText === 'string' ? frame().includes(expectText) : expectText.test(frame())),
      frame,
    )
  }
  await until(() => frame().includes('runtime.device'), frame)
  return { app, keys, frame, press, result: () => result }
}

/** Enter until the screen shows `text` (each Enter moves one step). */
async function enterUntil(w: Awaited<ReturnType<typeof start>>, text: string): Promise<void> {
  for (let i = 0; i < 40 && !w.frame().includes(text); i++) {
    const before = w.frame()
    await settle()
    w.app.stdin.write(ENTER)
    await until(() => w.frame() !== before, w.frame)
  }
  expect(w.frame()).toContain(text)
}

describe('config wizard', () => {
  it('Enter throughout accepts the proposals, and the summary writes them', async () => {
    const w = await start()
    await enterUntil(w, 'Summary')
    expect(w.frame()).toContain('Write /tmp/kiln-test/config.yaml')
    await settle()
    w.app.stdin.write(ENTER)
    await until(() => w.result() !== undefined, w.frame)
    const r = w.result()!
    expect(r.confirmed).toBe(true)
    if (!r.confirmed) return
    const expected = detectedDefaults(process.env)
    for (const k of w.keys) expect(r.answers.get(k.key), k.key).toEqual(expected.get(k.key))
  })

  it('re-opens existing values, takes arrow keys, refuses bad values inline, hides secrets', async () => {
    const w = await start(
      new Map<string, unknown>([
        ['runtime.device', 'cpu'],
        ['runtime.threads', 7],
        ['hub.token', 'hf_oldtokenvalue_1234'],
      ]),
    )
    expect(w.frame()).toMatch(/❯ cpu/)
    await w.press(DOWN, /❯ cuda/)
    await w.press(ENTER, 'runtime.threads')
    expect(w.frame()).toContain('> 7')
    await w.press(BACKSPACE, /> \(empty: default \d+\)$/m)
    await w.press('0', '> 0')
    await w.press(ENTER, '✗ runtime.threads must be an integer ≥ 1 (got 0)')
    expect(w.frame()).toContain('runtime.threads') // still on the same question
    await w.press(BACKSPACE, /> \(empty: default \d+\)$/m)
    await w.press('3', '> 3')
    await w.press(ENTER, 'runtime.dtype')
    await enterUntil(w, 'hub.token')
    expect(w.frame()).not.toContain('hf_old')
    expect(w.frame()).toContain('*********************') // the old token, masked
    // One key at a time: ink reads a burst of input as one paste.
    for (let i = 21; i > 0; i--)
      await w.press(BACKSPACE, i > 1 ? `> ${'*'.repeat(i - 1)}` : '(empty: not set')
    await w.press('hf_newsecret_abcdefgh', '*'.repeat(21))
    expect(w.frame()).not.toContain('hf_new')
    await w.press(ENTER, 'hub.offline')
    await enterUntil(w, 'Summary')
    expect(w.frame()).toMatch(/runtime\.device +cuda/)
    expect(w.frame()).toMatch(/runtime\.threads +3/)
    expect(w.frame()).toMatch(/hub\.token +\*\*\*\*efgh/)
    expect(w.frame()).not.toContain('hf_new')
    await settle()
    w.app.stdin.write(ENTER)
    await until(() => w.result() !== undefined, w.frame)
    const r = w.result()!
    expect(r.confirmed && r.answers.get('hub.token')).toBe('hf_newsecret_abcdefgh')
    expect(r.confirmed && r.answers.get('runtime.threads')).toBe(3)
  })

  it('an emptied answer leaves the key out; the summary can go back or cancel', async () => {
    const w = await start()
    await w.press(ENTER, 'runtime.threads')
    await w.press(BACKSPACE, /> \(empty: default \d+\)$/m)
    await w.press(ENTER, 'runtime.dtype')
    await enterUntil(w, 'Summary')
    expect(w.frame()).toMatch(/runtime\.threads +\(default: \d+\)/)
    await w.press(DOWN, '❯ Go back')
    await w.press(ENTER, `1/${w.keys.length}`)
    await enterUntil(w, 'Summary')
    await w.press(DOWN, '❯ Go back')
    await w.press(DOWN, '❯ Cancel')
    await settle()
    w.app.stdin.write(ENTER)
    await until(() => w.result() !== undefined, w.frame)
    expect(w.result()).toEqual({ confirmed: false })
  })

  it('Escape cancels at any step', async () => {
    const w = await start()
    await w.press(ENTER, 'runtime.threads')
    await settle()
    w.app.stdin.write(ESC)
    await until(() => w.result() !== undefined, w.frame)
    expect(w.result()).toEqual({ confirmed: false })
  })
})
