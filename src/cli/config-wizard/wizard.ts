// The `kiln config` wizard as an ink component: one screen per setting (arrow-key choices, typed
// values, secrets hidden as they are typed, inline validation), then a summary and a confirmation.
// It only collects answers; the command writes the file. The key handling is state.ts; this file
// draws. Written with React.createElement so that no JSX build step is needed; only run.ts imports
// it, lazily.
import { Box, Text, useApp, useInput } from 'ink'
import { createElement as h, type ReactElement, useEffect, useReducer } from 'react'
import { redact } from '../settings/redact.js'
import type { TypedKey } from '../settings/types.js'
import {
  type Answers,
  choicesOf,
  initialState,
  PAGE_ACTIONS,
  press,
  SUMMARY_ACTIONS,
  type WizardResult,
} from './state.js'

export type { Answers, WizardResult } from './state.js'

export interface WizardProps {
  keys: TypedKey[]
  /** First proposals: the file's values, else this machine's defaults. */
  initial: Answers
  /** Where the file will be written (shown on the summary). */
  path: string
  /** Whether the file exists (the summary says "replace" or "create"). */
  exists: boolean
  /** Colour (a terminal without NO_COLOR or --no-color); without it the wizard is plain text. */
  color: boolean
  onDone: (result: WizardResult) => void
}

/** A value as the wizard may show it: secrets redacted. */
function display(k: TypedKey, v: unknown): string {
  return k.secret ? redact(String(v)) : String(v)
}

/** The built-in default for display, or undefined when there is none. */
function defaultText(k: TypedKey): string | undefined {
  const v = k.default?.(process.env)
  return v === undefined ? undefined : display(k, v)
}

function shown(k: TypedKey, v: unknown): string {
  if (v !== undefined) return display(k, v)
  const d = defaultText(k)
  return d === undefined ? '(not set)' : `(default: ${d})`
}

function List(props: { labels: string[]; at: number; color: boolean }): ReactElement {
  return h(
    Box,
    { flexDirection: 'column' },
    ...props.labels.map((label, i) =>
      h(
        Text,
        { key: label, color: props.color && i === props.at ? 'cyan' : undefined },
        `${i === props.at ? '❯' : ' '} ${label}`,
      ),
    ),
  )
}

function TextField(props: { k: TypedKey; text: string; error: string; color: boolean }): ReactElement {
  const { k, text, color } = props
  const d = defaultText(k)
  const placeholder =
    d !== undefined ? `(empty: default ${d})` : `(empty: not set${k.example ? `; e.g. ${k.example}` : ''})`
  const value = k.secret ? '*'.repeat(text.length) : text
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      null,
      h(Text, { color: color ? 'cyan' : undefined }, '> '),
      text === '' ? h(Text, { dimColor: color }, placeholder) : value,
      color ? h(Text, { inverse: true }, ' ') : null,
    ),
    props.error ? h(Text, { color: color ? 'red' : undefined }, `✗ ${props.error}`) : null,
  )
}

export function ConfigWizard(props: WizardProps): ReactElement {
  const { exit } = useApp()
  const [state, dispatch] = useReducer(
    (s: ReturnType<typeof initialState>, e: { input: string; key: Parameters<typeof press>[2] }) =>
      press(s, e.input, e.key),
    undefined,
    () => initialState(props.keys, props.initial),
  )
  // One handler for the whole wizard (see state.ts).
  useInput((input, key) => dispatch({ input, key }))
  useEffect(() => {
    if (!state.result) return
    props.onDone(state.result)
    exit()
  }, [state.result, props.onDone, exit])
  const { color } = props
  if (state.step >= props.keys.length) {
    const width = Math.max(...props.keys.map((k) => k.key.length))
    // A kept optional section is one line: its thirty keys would push the actions off the screen.
    const listed = props.keys.filter((k) => !state.kept.includes(k.section))
    const actions: Record<(typeof SUMMARY_ACTIONS)[number], string> = {
      write: `Write ${props.path}`,
      back: 'Go back and change an answer',
      cancel: 'Cancel (write nothing)',
    }
    return h(
      Box,
      { flexDirection: 'column' },
      h(
        Text,
        { bold: color },
        `Summary — ${props.exists ? 'replaces the settings in' : 'creates'} ${props.path}`,
      ),
      ...listed.map((k) =>
        h(Text, { key: k.key }, `  ${k.key.padEnd(width)}  ${shown(k, state.answers.get(k.key))}`),
      ),
      ...state.kept.map((section) =>
        h(
          Text,
          { key: section },
          `  ${`${section}.*`.padEnd(width)}  kept (${sectionSize(props.keys, section)} settings; \`kiln config list\` shows them)`,
        ),
      ),
      h(Text, null, ''),
      h(List, { labels: SUMMARY_ACTIONS.map((a) => actions[a]), at: state.choice, color }),
    )
  }
  if (state.page) {
    const n = sectionSize(props.keys, state.page)
    const labels: Record<(typeof PAGE_ACTIONS)[number], string> = {
      keep: 'Keep them as they are (the file, else the defaults)',
      set: `Set them now (${n} questions)`,
    }
    return h(
      Box,
      { flexDirection: 'column' },
      h(
        Text,
        { dimColor: color },
        `kiln config — ${state.step + 1}/${props.keys.length} · Enter accepts · Esc cancels`,
      ),
      h(Text, { bold: color }, `${state.page}.*`),
      h(Text, null, `${n} ${state.page} settings (\`kiln ${state.page}\`'s defaults).`),
      h(List, { labels: PAGE_ACTIONS.map((a) => labels[a]), at: state.choice, color }),
    )
  }
  const k = props.keys[state.step]
  const choices = choicesOf(k)
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      { dimColor: color },
      `kiln config — ${state.step + 1}/${props.keys.length} · Enter accepts · Esc cancels`,
    ),
    h(Text, { bold: color }, k.key),
    h(Text, null, `${k.help} Allowed: ${k.allowed}${k.secret ? ' (hidden as you type)' : ''}.`),
    choices
      ? h(List, { labels: choices.map(String), at: state.choice, color })
      : h(TextField, { k, text: state.text, error: state.error, color }),
  )
}

const sectionSize = (keys: TypedKey[], section: string) => keys.filter((k) => k.section === section).length
