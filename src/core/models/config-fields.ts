// Typed access to config.json fields shared by every family's config parser: each problem is a
// ConfigError naming the file and the field.
import { ConfigError } from '../errors.js'
import { quote, shown } from '../util/shown.js'
import type { ModelConfig } from './config.js'

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The most a layer's width (hidden, intermediate, head size) or count of heads may be. The largest
 * real models are near 2^16 wide; a config past this bound is hostile or broken, and is refused
 * before anything is sized by it (the rotary table is head_dim / 2 floats, built before weights).
 */
export const MAX_WIDTH = 2 ** 20

/** Typed access to one JSON object's fields; every problem is a ConfigError naming file and field. */
export class Fields {
  constructor(
    readonly obj: Record<string, unknown>,
    readonly source: string,
    readonly prefix = '',
  ) {}

  fail(message: string): never {
    throw new ConfigError(`${this.source}: ${message}`)
  }

  label(name: string): string {
    return `"${this.prefix}${name}"`
  }

  /** The field's value; null counts as absent, as transformers treats it. */
  get(name: string): unknown {
    const v = this.obj[name]
    return v === null ? undefined : v
  }

  has(name: string): boolean {
    return this.get(name) !== undefined
  }

  private check(name: string, want: string, ok: (v: unknown) => boolean, fallback?: unknown): unknown {
    const v = this.get(name)
    if (v === undefined) {
      if (fallback !== undefined) return fallback
      this.fail(`${this.label(name)} must be ${want}, but it is missing`)
    }
    if (!ok(v)) this.fail(`${this.label(name)} must be ${want}, got ${shown(v)}`)
    return v
  }

  /** A positive integer, at most `max` (a width: see MAX_WIDTH). */
  positiveInt(name: string, fallback?: number, max = Number.MAX_SAFE_INTEGER): number {
    return this.check(
      name,
      max === Number.MAX_SAFE_INTEGER ? 'a positive integer' : `a positive integer up to ${max}`,
      (v) => Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= max,
      fallback,
    ) as number
  }

  positiveNumber(name: string, fallback?: number): number {
    const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0
    return this.check(name, 'a positive number', ok, fallback) as number
  }

  boolean(name: string, fallback?: boolean): boolean {
    return this.check(name, 'true or false', (v) => typeof v === 'boolean', fallback) as boolean
  }

  string(name: string, fallback?: string): string {
    return this.check(name, 'a string', (v) => typeof v === 'string', fallback) as string
  }

  /** A token id: absent, null or negative (some configs use -1 for "none") mean no id. */
  tokenId(name: string): number | undefined {
    const v = this.get(name)
    if (v === undefined) return undefined
    if (!Number.isSafeInteger(v))
      this.fail(`${this.label(name)} must be a token id (an integer), got ${shown(v)}`)
    return (v as number) >= 0 ? (v as number) : undefined
  }

  /** A token id or a list of them (eos_token_id). */
  tokenIds(name: string): number[] {
    const v = this.get(name)
    if (v === undefined) return []
    const list = Array.isArray(v) ? v : [v]
    for (const id of list) {
      if (!Number.isSafeInteger(id)) {
        this.fail(`${this.label(name)} must be a token id or a list of token ids, got ${shown(v)}`)
      }
    }
    return [...new Set((list as number[]).filter((id) => id >= 0))]
  }
}

/** hidden_act / activation_function names transformers accepts, as kiln's activation kinds. */
export const ACTIVATIONS: Record<string, ModelConfig['activation']> = {
  silu: 'silu',
  swish: 'silu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
}

export function activation(f: Fields, name: string, fallback: string): ModelConfig['activation'] {
  const act = f.string(name, fallback)
  const mapped = ACTIVATIONS[act]
  if (!mapped) {
    f.fail(
      `${quote(name)} ${quote(act)} is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
    )
  }
  return mapped
}

export function tokens(f: Fields): Pick<ModelConfig, 'bosTokenId' | 'eosTokenIds' | 'padTokenId'> {
  return {
    bosTokenId: f.tokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenId('pad_token_id'),
  }
}
