// The property every fuzz target checks, and the failures that break it: the code under test
// returns, or throws kiln's own typed error (a KilnError with an E_ code) with a one-line message.
// kiln()/kilnAsync() run a call under it; FuzzFailure is what a case throws instead; KnownBug marks
// a failure that is reported and expected until its fix, and the known bugs several targets share
// are here too. Apart from the driver, so that a target's own checks (hub-checks.ts) can use it.
import { KilnError } from '../../src/core/errors.js'
import { type Json, stringifyDeep } from './mutate.js'

/** A broken property: what the case did instead of returning or throwing a one-line KilnError. */
export class FuzzFailure extends Error {
  constructor(
    message: string,
    readonly kind: 'exception' | 'multiline' | 'hang' | 'memory' | 'crash' | 'answer',
  ) {
    super(message)
  }
}

/** What a case's call came to, for properties that look further (a compiled schema, a loaded tokenizer). */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: KilnError }

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `a non-Error value ${safeString(e)}`
  const stack = (e.stack ?? '').split('\n').slice(1, 13).join('\n')
  return `${e.constructor?.name ?? 'Error'}: ${e.message.slice(0, 500)}\n${stack}`
}

function safeString(v: unknown): string {
  try {
    return String(JSON.stringify(v)).slice(0, 200)
  } catch {
    return String(v).slice(0, 200)
  }
}

/** A short JSON text of a case for the watchdog (any depth). */
export function caseText(v: unknown, max = 20_000): string {
  try {
    return stringifyDeep(v as Json, max).slice(0, max)
  } catch {
    return safeString(v)
  }
}

/** Checks a thrown value against the property: a KilnError with a code and a one-line message. */
export function checkError(e: unknown): KilnError {
  if (e instanceof FuzzFailure) throw e
  if (!(e instanceof KilnError)) throw new FuzzFailure(`threw ${describeError(e)}`, 'exception')
  if (typeof e.code !== 'string' || !e.code.startsWith('E_'))
    throw new FuzzFailure(`threw a KilnError without a code: ${describeError(e)}`, 'exception')
  if (/[\r\n]/.test(e.message))
    throw new FuzzFailure(
      `${e.constructor.name} (${e.code}) message is not one line: ${JSON.stringify(e.message.slice(0, 400))}\n` +
        (e.stack ?? '')
          .split('\n')
          .filter((l) => l.trimStart().startsWith('at '))
          .slice(0, 4)
          .join('\n'),
      'multiline',
    )
  return e
}

/** Runs `fn` under the property: it returns, or throws a KilnError (returned as the outcome). */
export function kiln<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() }
  } catch (e) {
    return { ok: false, error: checkError(e) }
  }
}

export async function kilnAsync<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (e) {
    return { ok: false, error: checkError(e) }
  }
}

/** A bug the fuzzer finds that is known and reported (its reproducer is in the corpus, marked). */
export interface KnownBug {
  /** Short name, as in corpus/<target>/known-bugs.json. */
  name: string
  /** True when a failure (of this input) is this bug. */
  matches(failure: FuzzFailure, input: unknown): boolean
  /**
   * True for inputs that would take the whole process down with this bug (a V8 out-of-memory
   * error cannot be caught): they are counted, not run, until the bug is fixed.
   */
  skip?(input: unknown): boolean
}

/** A message that echoes a hostile string (a name, a value) with its line breaks. */
export const MULTILINE_MESSAGE: KnownBug = {
  name: 'multiline-message',
  matches: (f) => f.kind === 'multiline',
}

/** Deep nesting (thousands of levels, which JSON.parse reads) overflowing a recursion in kiln. */
export const STACK_OVERFLOW: KnownBug = {
  name: 'deep-nesting-stack-overflow',
  // An error message made with JSON.stringify (or a template string) of a nested hostile value.
  matches: (f) =>
    f.kind === 'exception' &&
    f.message.includes('Maximum call stack size exceeded') &&
    /at (JSON\.stringify|Array\.join|Array\.toString)/.test(f.message),
}
