// Errors raised while loading or running a tokenizer. Will extend the shared KilnError later;
// `code` and the message wording are the stable contract.

export class TokenizerError extends Error {
  readonly code = 'E_TOKENIZER'

  constructor(message: string) {
    super(message)
    this.name = 'TokenizerError'
  }
}

/** Throws for a component kind we do not implement, naming what is supported. */
export function unsupported(what: string, kind: unknown, supported: readonly string[]): never {
  throw new TokenizerError(
    `tokenizer.json: unsupported ${what} ${JSON.stringify(kind)} (supported: ${supported.join(', ')})`,
  )
}
