// Typed access to a GGUF file's metadata for the model and tokenizer rebuilt from it: every missing
// or mistyped key becomes one FormatError naming the file and the key.
import { FormatError } from '../errors.js'
import type { GgufFile } from '../formats/gguf-read.js'
import type { GgufValue } from '../formats/gguf-types.js'

const INTEGER_KINDS = new Set(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64'])
const NUMBER_KINDS = new Set([...INTEGER_KINDS, 'f32', 'f64'])

/** How a value is shown in a message: its kind, and short values themselves. */
function describe(v: GgufValue): string {
  if (v.type === 'array') return `an array of ${v.itemType}`
  if (v.type === 'string')
    return `string ${JSON.stringify(v.value.length > 40 ? `${v.value.slice(0, 40)}…` : v.value)}`
  return `${v.type} ${String(v.value)}`
}

export class GgufMetadata {
  constructor(readonly file: GgufFile) {}

  get path(): string {
    return this.file.path
  }

  fail(key: string, problem: string): never {
    throw new FormatError(`${this.file.path}: "${key}" ${problem}`)
  }

  has(key: string): boolean {
    return this.file.metadata.has(key)
  }

  private need(key: string, want: string): GgufValue {
    const v = this.file.metadata.get(key)
    if (v === undefined) this.fail(key, `is missing (expected ${want})`)
    return v
  }

  /** A non-negative integer of any integer kind (llama.cpp writes u32, some writers i32 or u64). */
  count(key: string, fallback?: number): number {
    if (fallback !== undefined && !this.has(key)) return fallback
    const v = this.need(key, 'an integer')
    const n = INTEGER_KINDS.has(v.type) ? Number(v.value) : Number.NaN
    if (!Number.isSafeInteger(n) || n < 0)
      this.fail(key, `must be a non-negative integer, got ${describe(v)}`)
    return n
  }

  /** Like count, but 0 is refused. */
  positive(key: string, fallback?: number): number {
    const n = this.count(key, fallback)
    if (n === 0) this.fail(key, 'must be a positive integer, got 0')
    return n
  }

  /** A finite number of any numeric kind. */
  number(key: string, fallback?: number): number {
    if (fallback !== undefined && !this.has(key)) return fallback
    const v = this.need(key, 'a number')
    const n = NUMBER_KINDS.has(v.type) ? Number(v.value) : Number.NaN
    if (!Number.isFinite(n)) this.fail(key, `must be a finite number, got ${describe(v)}`)
    return n
  }

  string(key: string, fallback?: string): string {
    if (fallback !== undefined && !this.has(key)) return fallback
    const v = this.need(key, 'a string')
    if (v.type !== 'string') this.fail(key, `must be a string, got ${describe(v)}`)
    return v.value
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined
  }

  boolean(key: string, fallback?: boolean): boolean {
    if (fallback !== undefined && !this.has(key)) return fallback
    const v = this.need(key, 'true or false')
    if (v.type !== 'bool') this.fail(key, `must be a bool, got ${describe(v)}`)
    return v.value
  }

  /** An optional token id; absent means none. Any integer kind; negative (-1 in some files) means none. */
  tokenId(key: string, tokens: number): number | undefined {
    if (!this.has(key)) return undefined
    const v = this.file.metadata.get(key)!
    const n = INTEGER_KINDS.has(v.type) ? Number(v.value) : Number.NaN
    if (!Number.isSafeInteger(n)) this.fail(key, `must be a token id (an integer), got ${describe(v)}`)
    if (n < 0) return undefined
    if (n >= tokens) this.fail(key, `is token id ${n}, but the vocabulary has ${tokens} tokens`)
    return n
  }

  stringArray(key: string): readonly string[] {
    const v = this.need(key, 'an array of strings')
    if (v.type !== 'array' || v.itemType !== 'string')
      this.fail(key, `must be an array of strings, got ${describe(v)}`)
    return v.value as readonly string[]
  }

  /** A numeric array (any numeric item kind) of exactly `length` items. */
  numberArray(key: string, length: number, integer: boolean): ArrayLike<number> {
    const v = this.need(key, `an array of ${length} numbers`)
    const kinds = integer ? INTEGER_KINDS : NUMBER_KINDS
    if (v.type !== 'array' || !kinds.has(v.itemType)) {
      this.fail(key, `must be an array of ${integer ? 'integers' : 'numbers'}, got ${describe(v)}`)
    }
    const items = v.value
    if (items.length !== length) {
      this.fail(key, `has ${items.length} items, expected ${length} (one per token)`)
    }
    if (items instanceof BigInt64Array || items instanceof BigUint64Array) {
      return Array.from(items, (b) => Number(b))
    }
    return items as ArrayLike<number>
  }
}
