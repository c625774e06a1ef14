// Errors raised while loading or running a tokenizer; `code` and the message wording are stable.
import { KilnError } from '../errors.js'
import { shown } from '../util/shown.js'

export class TokenizerError extends KilnError {
  constructor(message: string) {
    super('E_TOKENIZER', message)
  }
}

/** Throws for a component kind we do not implement, naming what is supported. */
export function unsupported(what: string, kind: unknown, supported: readonly string[]): never {
  throw new TokenizerError(
    `tokenizer.json: unsupported ${what} ${shown(kind)} (supported: ${supported.join(', ')})`,
  )
}
