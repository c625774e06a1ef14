// The `kiln config` wizard as an ink component: one screen per setting (arrow-key select for
// choices, text input for the rest, hidden input for secrets, inline validation), then a summary
// and a confirmation. It only collects answers; the command writes the file. Written with
// React.createElement so that no JSX build step is needed; only run.ts imports it, lazily.
import { Box, Text, useApp, useInput } from 'ink'
import SelectInput from 'ink-select-input'
import TextInput from 'ink-text-input'
import { createElement as h, type ReactElement, useState } from 'react'
import { redact } from '../settings/redact.js'
import type { TypedKey } from '../settings/types.js'
import { checkValue, fromText } from '../settings/values.js'

/** The wizard's answers: a value per key, or undefined to leave the key out of the file. */
export type Answers = Map<string, unknown>

export type WizardResult = { confirmed: true; answers: Answers } | { confirmed: false }

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

function ChoiceStep(props: StepProps): ReactElement {
  const { k } = props
  const values: unknown[] = k.kind === 'boolean' ? [false, true] : (k.options ?? [])
  const items = values.map((v) => ({ key: String(v), label: String(v), value: v }))
  const at = Math.max(0, values.indexOf(props.value))
  return h(SelectInput<unknown>, { items, initialIndex: at, onSelect: (item) => props.onAnswer(item.value) })
}

interface StepProps {
  k: TypedKey
  value: unknown
  color: boolean
  onAnswer: (v: unknown) => void
}

function TextStep(props: StepProps): ReactElement {
  const { k } = props
  const [text, setText] = useState(props.value === undefined ? '' : String(props.value))
  const [error, setError] = useState('')
  const submit = (t: string) => {
    // Empty leaves the key out of the file: the environment or the built-in default decide.
    if (t.trim() === '') return props.onAnswer(undefined)
    const r = checkValue(k, fromText(k, t.trim()))
    if (r.ok) props.onAnswer(r.value)
    else setError(r.problem)
  }
  const change = (t: string) => {
    // Pasted text arrives in one piece; a pasted newline means Enter, not a character of the value.
    if (/[\r\n]/.test(t)) {
      const clean = t.replace(/[\r\n]+/g, '')
      setText(clean)
      submit(clean)
      return
    }
    setText(t)
    setError('')
  }
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Box,
      null,
      h(Text, { color: props.color ? 'cyan' : undefined }, '> '),
      h(TextInput, {
        value: text,
        onChange: change,
        onSubmit: submit,
        mask: k.secret ? '*' : undefined,
        placeholder:
          defaultText(k) !== undefined
            ? `(empty: default ${defaultText(k)})`
            : `(empty: not set${k.example ? `; e.g. ${k.example}` : ''})`,
      }),
    ),
    error ? h(Text, { color: props.color ? 'red' : undefined }, `✗ ${error}`) : null,
  )
}

function Summary(props: WizardProps & { answers: Answers; onBack: () => void }): ReactElement {
  const width = Math.max(...props.keys.map((k) => k.key.length))
  const items = [
    { key: 'write', label: `Write ${props.path}`, value: 'write' },
    { key: 'back', label: 'Go back and change an answer', value: 'back' },
    { key: 'cancel', label: 'Cancel (write nothing)', value: 'cancel' },
  ]
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      { bold: true },
      `Summary — ${props.exists ? 'replaces the settings in' : 'creates'} ${props.path}`,
    ),
    ...props.keys.map((k) =>
      h(Text, { key: k.key }, `  ${k.key.padEnd(width)}  ${shown(k, props.answers.get(k.key))}`),
    ),
    h(Text, null, ''),
    h(SelectInput<string>, {
      items,
      onSelect: (item) => {
        if (item.value === 'back') props.onBack()
        else if (item.value === 'write') props.onDone({ confirmed: true, answers: props.answers })
        else props.onDone({ confirmed: false })
      },
    }),
  )
}

export function ConfigWizard(props: WizardProps): ReactElement {
  const { exit } = useApp()
  const [step, setStep] = useState(0)
  const [answers, setAnswers] = useState<Answers>(() => new Map(props.initial))
  const done = (r: WizardResult) => {
    props.onDone(r)
    exit()
  }
  // Escape cancels at any point, like Ctrl-C.
  useInput((_input, key) => {
    if (key.escape) done({ confirmed: false })
  })
  if (step >= props.keys.length)
    return h(Summary, { ...props, answers, onDone: done, onBack: () => setStep(0) })
  const k = props.keys[step]
  const answer = (v: unknown) => {
    setAnswers((a) => new Map(a).set(k.key, v))
    setStep((s) => s + 1)
  }
  const input = k.kind === 'enum' || k.kind === 'boolean' ? ChoiceStep : TextStep
  return h(
    Box,
    { flexDirection: 'column' },
    h(
      Text,
      { dimColor: true },
      `kiln config — ${step + 1}/${props.keys.length} · Enter accepts · Esc cancels`,
    ),
    h(Text, { bold: props.color }, k.key),
    h(Text, null, `${k.help} Allowed: ${k.allowed}${k.secret ? ' (hidden as you type)' : ''}.`),
    h(input, { key: `${k.key}-${step}`, k, value: answers.get(k.key), color: props.color, onAnswer: answer }),
  )
}
