// Constrained decoding: the output follows a grammar (any JSON object, or a JSON schema), enforced
// at each step by letting the sampler pick only among the tokens whose bytes keep the text valid.
import type { Tokenizer } from '../tokenizer/index.js'
import { type Grammar, jsonObjectGrammar } from './grammar.js'
import { canEnd, dedupe, initialState, isComplete, type MatchState } from './json-matcher.js'
import { compileJsonSchema } from './json-schema.js'
import { advanceBytes, MaskCache } from './token-mask.js'
import { type TokenTable, tokenTable } from './token-table.js'

/** What the output must be, as OpenAI's response_format says it. */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; schema: unknown }

/** Grammars kept compiled, with their mask caches, per vocabulary. */
const MAX_GRAMMARS = 32
const caches = new WeakMap<TokenTable, Map<string, { grammar: Grammar; masks: MaskCache }>>()

/** The grammar of a format (undefined for text); throws a UsageError for a schema kiln cannot enforce. */
export function compileResponseFormat(format: ResponseFormat | undefined): Grammar | undefined {
  if (!format || format.type === 'text') return undefined
  return format.type === 'json_object' ? jsonObjectGrammar() : compileJsonSchema(format.schema)
}

function grammarKey(format: Exclude<ResponseFormat, { type: 'text' }>): string {
  return format.type === 'json_object' ? 'json_object' : `json_schema:${JSON.stringify(format.schema)}`
}

/** One sequence's place in its grammar. */
export class Constraint {
  private state: MatchState

  constructor(
    private readonly table: TokenTable,
    private readonly masks: MaskCache,
    grammar: Grammar,
    private readonly eos: readonly number[],
  ) {
    this.state = initialState(grammar)
  }

  /** The output may end here (EOS is allowed). */
  get canEnd(): boolean {
    return canEnd(this.state)
  }

  /** Nothing may follow: the output is complete. */
  get complete(): boolean {
    return isComplete(this.state)
  }

  /** The tokens allowed next as a bitset over ids (EOS when the output may end); undefined: none. */
  allowed(): Uint32Array | undefined {
    const mask = this.masks.allowed(this.state)
    const end = this.canEnd && this.eos.length > 0
    if (!end) return mask.some((w) => w !== 0) ? mask : undefined
    const withEos = mask.slice()
    for (const id of this.eos) if (id >> 5 < withEos.length) withEos[id >> 5] |= 1 << (id & 31)
    return withEos
  }

  /** Moves past a generated token (EOS ends the output). */
  accept(id: number): void {
    if (this.eos.includes(id)) {
      this.state = [null]
      return
    }
    const bytes = this.table.byId[id]
    this.state = bytes ? dedupe(advanceBytes(this.state, bytes)) : []
  }
}

/** A sequence's constraint for a format (undefined for text), sharing compiled grammars and masks. */
export function createConstraint(
  format: ResponseFormat | undefined,
  tok: Tokenizer,
  eos: readonly number[],
): Constraint | undefined {
  if (!format || format.type === 'text') return undefined
  const table = tokenTable(tok)
  let perTable = caches.get(table)
  if (!perTable) {
    perTable = new Map()
    caches.set(table, perTable)
  }
  const key = grammarKey(format)
  let entry = perTable.get(key)
  if (entry)
    perTable.delete(key) // re-inserted below: most recently used last
  else entry = { grammar: compileResponseFormat(format) as Grammar, masks: new MaskCache(table) }
  perTable.set(key, entry)
  if (perTable.size > MAX_GRAMMARS) perTable.delete(perTable.keys().next().value as string)
  return new Constraint(table, entry.masks, entry.grammar, eos)
}
