// Flags every task command (classify, embed, fill-mask, ner) shares, and how they become a TaskInput.
import { Flags } from '@oclif/core'
import type { settingsFor } from '../settings/for-command.js'
import type { TaskInput } from './run-task.js'

export const taskFlags = {
  model: Flags.string({
    char: 'm',
    description: 'Model folder or repo id (org/name[@rev]).',
    required: true,
  }),
  file: Flags.string({
    char: 'f',
    description: 'Texts, one per line (JSONL with a "text" field if it ends in .jsonl).',
  }),
  'batch-size': Flags.integer({ description: 'Texts per batch (default 32).', min: 1 }),
  threads: Flags.integer({
    char: 't',
    description: 'Compute threads (default: runtime.threads, else all cores).',
    min: 1,
  }),
}

type Settings = Awaited<ReturnType<typeof settingsFor>>

export function taskInput(
  argv: string[],
  flags: {
    model: string
    file?: string
    'batch-size'?: number
    threads?: number
    json: boolean
    quiet: boolean
  },
  s: Settings,
): Omit<TaskInput, 'hub'> {
  return {
    model: flags.model,
    texts: argv,
    file: flags.file,
    batchSize: flags['batch-size'],
    threads: flags.threads ?? (s.get('runtime.threads')?.value as number | undefined),
    json: flags.json,
    quiet: flags.quiet,
  }
}
