// The wizard's key handling as a pure function: every key press in order, typed ahead or pasted.
import { describe, expect, it } from 'vitest'
import { initialState, press, type WizardState } from '../../../src/cli/config-wizard/state.js'
import { detectedDefaults, settingTypes } from '../../../src/cli/settings/index.js'

const ENTER = { return: true }
const DOWN = { downArrow: true }

async function start(initial?: Map<string, unknown>) {
  const keys = [...(await settingTypes()).keys.values()]
  return initialState(keys, initial ?? detectedDefaults(process.env))
}

const keyAt = (s: WizardState) => s.keys[s.step]?.key ?? 'summary'

/** Enter until the summary (optional sections' pages answered "keep", so fewer presses than keys). */
function toSummary(s: WizardState): WizardState {
  for (let i = 0; i <= s.keys.length && s.step < s.keys.length; i++) s = press(s, '', ENTER)
  return s
}

describe('wizard state', () => {
  it('Enter on every question, then Write, gives the proposals', async () => {
    let s = await start()
    for (let i = 0; i < s.keys.length; i++) s = press(s, '', ENTER)
    expect(keyAt(s)).toBe('summary')
    s = press(s, '', ENTER)
    expect(s.result?.confirmed).toBe(true)
    const answers = s.result?.confirmed ? s.result.answers : new Map()
    // Keys without a proposal are answered "leave out" (undefined).
    expect(new Map([...answers].filter(([, v]) => v !== undefined))).toEqual(detectedDefaults(process.env))
    expect(answers.size).toBe(s.keys.length)
    expect(press(s, '', DOWN)).toBe(s) // nothing moves once done
  })

  it('takes a pasted run of keys as the keys one by one', async () => {
    let s = await start()
    s = press(s, '', DOWN) // runtime.device: auto → cpu
    s = press(s, '\r', {}) // a lone "\r" that ink did not flag as return
    expect(keyAt(s)).toBe('runtime.threads')
    s = press(s, '\u007F3\r\u001B[B\r', {}) // threads: backspace, 3, Enter; dtype: down, Enter
    expect(keyAt(s)).toBe('hub.endpoint')
    expect(s.answers.get('runtime.device')).toBe('cpu')
    expect(s.answers.get('runtime.threads')).toBe(3)
    expect(s.answers.get('runtime.dtype')).toBe('f32')
    expect(s.text).toBe('https://huggingface.co')
    s = press(s, `${'\u007F'.repeat(22)}https://mirror.example\r\n`, {}) // cleared, pasted with a line end
    expect(keyAt(s)).toBe('hub.cache_dir')
    expect(s.answers.get('hub.endpoint')).toBe('https://mirror.example')
  })

  it('refuses a bad typed value and keeps the question', async () => {
    let s = await start(new Map([['runtime.threads', 4]]))
    s = press(s, '', ENTER)
    expect(s.text).toBe('4')
    s = press(s, '', { backspace: true })
    s = press(s, 'x', {})
    s = press(s, '', ENTER)
    expect(keyAt(s)).toBe('runtime.threads')
    expect(s.error).toBe('runtime.threads must be an integer ≥ 1 (got "x")')
    s = press(s, '', { backspace: true })
    expect(s.error).toBe('')
    s = press(s, '', ENTER) // empty: leave it out of the file
    expect(keyAt(s)).toBe('runtime.dtype')
    expect(s.answers.has('runtime.threads')).toBe(true)
    expect(s.answers.get('runtime.threads')).toBeUndefined()
  })

  it('wraps around choices; the summary goes back or cancels; Escape cancels', async () => {
    let s = await start()
    s = press(s, '', { upArrow: true })
    expect(s.choice).toBe(2) // auto → cuda, around the top
    s = toSummary(s)
    s = press(s, '', DOWN)
    s = press(s, '', ENTER)
    expect([s.step, s.answers.get('runtime.device')]).toEqual([0, 'cuda'])
    expect(s.choice).toBe(2) // the answer given, selected again
    expect(press(s, '', { escape: true }).result).toEqual({ confirmed: false })
    s = toSummary(s)
    s = press(press(s, '', { upArrow: true }), '', ENTER)
    expect(s.result).toEqual({ confirmed: false })
  })

  it('asks about finetune.* on one page: keep them all, or set them one by one', async () => {
    let s = await start(new Map([['finetune.rank', 8]]))
    while (!s.page) s = press(s, '', ENTER)
    expect([s.page, keyAt(s)]).toEqual(['finetune', 'finetune.engine'])
    const page = s
    s = press(s, '', ENTER) // keep
    expect(keyAt(s)).toBe('summary')
    expect(s.kept).toEqual(['finetune'])
    const finetuneKeys = s.keys.filter((k) => k.section === 'finetune').map((k) => k.key)
    expect(finetuneKeys.length).toBeGreaterThan(20)
    for (const k of finetuneKeys) expect(s.answers.has(k), k).toBe(true)
    expect(s.answers.get('finetune.rank')).toBe(8) // the proposal stands
    s = press(press(page, '', DOWN), '', ENTER) // set them now
    expect([s.page, keyAt(s)]).toEqual([undefined, 'finetune.engine'])
    for (let i = 0; i < finetuneKeys.length; i++) s = press(s, '', ENTER)
    expect(keyAt(s)).toBe('summary')
    expect(s.kept).toEqual([])
    s = press(press(s, '', DOWN), '', ENTER) // back: the page is asked again
    expect(s.step).toBe(0)
    s = toSummary(s)
    expect(s.result).toBeUndefined()
    expect(s.kept).toEqual(['finetune'])
  })
})
