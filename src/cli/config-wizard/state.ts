// The wizard's state and how each key press changes it, as a pure reducer. One input handler for the
// whole wizard feeds it, so a key typed while the next question is being drawn is not lost (a
// handler per question would only listen once its screen is up) and fast typing is applied in order.
import type { TypedKey } from '../settings/types.js'
import { checkValue, fromText } from '../settings/values.js'

/** The wizard's answers: a value per key, or undefined to leave the key out of the file. */
export type Answers = Map<string, unknown>

export type WizardResult = { confirmed: true; answers: Answers } | { confirmed: false }

/** What ink tells about a key press (the fields of its `Key` the wizard uses). */
export interface KeyInfo {
  upArrow?: boolean
  downArrow?: boolean
  return?: boolean
  escape?: boolean
  backspace?: boolean
  delete?: boolean
  ctrl?: boolean
  meta?: boolean
  tab?: boolean
}

export interface WizardState {
  keys: TypedKey[]
  answers: Answers
  /** Index of the question on screen; keys.length is the summary. */
  step: number
  /** The highlighted choice (questions with choices, and the summary's actions). */
  choice: number
  /** What is typed so far (questions without choices). */
  text: string
  /** Why the typed value was refused, shown under it until the next edit. */
  error: string
  /** An optional section's page is on screen (set its keys now, or keep them) instead of `step`. */
  page?: string
  /** Optional sections kept as they were (the summary shows one line for each). */
  kept: string[]
  result?: WizardResult
}

export const SUMMARY_ACTIONS = ['write', 'back', 'cancel'] as const

/**
 * Sections asked about as one page first: finetune's keys are a training recipe of some thirty
 * values, most people keep its defaults, and one screen each would bury the machine's set-up.
 */
export const OPTIONAL_SECTIONS = ['finetune']
export const PAGE_ACTIONS = ['keep', 'set'] as const

/** The keys of the optional section that starts at `step`, if one does. */
function sectionAt(keys: TypedKey[], step: number): string | undefined {
  const section = keys[step]?.section
  const starts = section !== undefined && (step === 0 || keys[step - 1].section !== section)
  return starts && OPTIONAL_SECTIONS.includes(section) ? section : undefined
}

/** The values a question offers (enums, booleans), or undefined for a typed one. */
export function choicesOf(k: TypedKey): unknown[] | undefined {
  if (k.kind === 'boolean') return [false, true]
  return k.kind === 'enum' ? k.options : undefined
}

/** The state when question `step` comes on screen: its current answer selected or typed. */
function enter(s: WizardState, step: number, page = true): WizardState {
  const base = { ...s, step, error: '', text: '', choice: 0, page: undefined }
  if (step >= s.keys.length) return base
  const section = page ? sectionAt(s.keys, step) : undefined
  if (section) return { ...base, page: section }
  const k = s.keys[step]
  const value = s.answers.get(k.key)
  const choices = choicesOf(k)
  if (choices) return { ...base, choice: Math.max(0, choices.indexOf(value)) }
  return { ...base, text: value === undefined ? '' : String(value) }
}

export function initialState(keys: TypedKey[], initial: Answers): WizardState {
  return enter({ keys, answers: new Map(initial), step: 0, choice: 0, text: '', error: '', kept: [] }, 0)
}

function answer(s: WizardState, value: unknown): WizardState {
  const answers = new Map(s.answers).set(s.keys[s.step].key, value)
  return enter({ ...s, answers }, s.step + 1)
}

/** Enter on a typed question: empty leaves the key out (environment or default decide). */
function submitText(s: WizardState, text: string): WizardState {
  const k = s.keys[s.step]
  if (text.trim() === '') return answer({ ...s, text }, undefined)
  const r = checkValue(k, fromText(k, text.trim()))
  return r.ok ? answer(s, r.value) : { ...s, text, error: r.problem }
}

/** Enter on an optional section's page: walk its keys, or keep them all (their proposals stand). */
function submitPage(s: WizardState, section: string): WizardState {
  const kept = s.kept.filter((k) => k !== section)
  if (PAGE_ACTIONS[s.choice] === 'set') return enter({ ...s, kept }, s.step, false)
  let next = s.step
  const answers = new Map(s.answers)
  for (; next < s.keys.length && s.keys[next].section === section; next++)
    answers.set(s.keys[next].key, answers.get(s.keys[next].key)) // every key answered, as if walked
  return enter({ ...s, answers, kept: [...kept, section] }, next)
}

function move(choice: number, count: number, by: number): number {
  return (choice + by + count) % count
}

const CONTROL = /[\u001B\r\n\u007F\b\t]/

/** A run of input as single key presses: escape sequences, Enter, Backspace, Tab, and text between. */
export function splitKeys(input: string): [string, KeyInfo][] {
  const out: [string, KeyInfo][] = []
  let text = ''
  const flush = () => {
    if (text) out.push([text, {}])
    text = ''
  }
  for (let i = 0; i < input.length; i++) {
    const c = input[i]
    if (c === '\u001B') {
      flush()
      const seq = /^\u001B(?:\[|O)([0-9;]*)([A-Za-z~])/.exec(input.slice(i))
      if (!seq) {
        out.push(['', { escape: true }])
        continue
      }
      const arrow: Record<string, KeyInfo> = { A: { upArrow: true }, B: { downArrow: true } }
      if (arrow[seq[2]]) out.push(['', arrow[seq[2]]])
      i += seq[0].length - 1 // other sequences (left, right, home, …) mean nothing here
    } else if (c === '\r' || c === '\n') {
      flush()
      if (c === '\n' && input[i - 1] === '\r') continue
      out.push(['', { return: true }])
    } else if (c === '\u007F' || c === '\b') {
      flush()
      out.push(['', { backspace: true }])
    } else if (c === '\t') {
      flush()
      out.push(['', { tab: true }])
    } else text += c
  }
  flush()
  return out
}

export function press(s: WizardState, input: string, key: KeyInfo): WizardState {
  if (s.result) return s
  // Keys typed while the screen was busy, or pasted, arrive as one piece: take them one by one.
  if (input.length > 1 && CONTROL.test(input))
    return splitKeys(input).reduce((next, [i, k]) => press(next, i, k), s)
  if (!key.return && (input === '\r' || input === '\n')) return press(s, '', { return: true })
  if (key.escape) return { ...s, result: { confirmed: false } }
  if (s.step >= s.keys.length) {
    const n = SUMMARY_ACTIONS.length
    if (key.upArrow) return { ...s, choice: move(s.choice, n, -1) }
    if (key.downArrow || key.tab) return { ...s, choice: move(s.choice, n, 1) }
    if (!key.return) return s
    const action = SUMMARY_ACTIONS[s.choice]
    if (action === 'back') return enter({ ...s, kept: [] }, 0)
    return {
      ...s,
      result: action === 'write' ? { confirmed: true, answers: s.answers } : { confirmed: false },
    }
  }
  if (s.page) {
    const n = PAGE_ACTIONS.length
    if (key.upArrow) return { ...s, choice: move(s.choice, n, -1) }
    if (key.downArrow || key.tab) return { ...s, choice: move(s.choice, n, 1) }
    return key.return ? submitPage(s, s.page) : s
  }
  const choices = choicesOf(s.keys[s.step])
  if (choices) {
    if (key.upArrow) return { ...s, choice: move(s.choice, choices.length, -1) }
    if (key.downArrow || key.tab) return { ...s, choice: move(s.choice, choices.length, 1) }
    return key.return ? answer(s, choices[s.choice]) : s
  }
  if (key.return) return submitText(s, s.text)
  if (key.backspace || key.delete) return { ...s, text: s.text.slice(0, -1), error: '' }
  if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.tab || input === '') return s
  return { ...s, text: s.text + input, error: '' }
}
