// Generation defaults from generation_config.json, falling back to the model config's token ids.
import { readFileSync } from 'node:fs'
import nodePath from 'node:path'
import { ConfigError, FormatError } from '../errors.js'
import { shown } from '../util/shown.js'
import type { ModelConfig } from './config.js'

export interface GenerationDefaults {
  eosTokenIds: number[]
  bosTokenId?: number
  padTokenId?: number
  temperature?: number
  topP?: number
  topK?: number
  minP?: number
  repetitionPenalty?: number
  doSample?: boolean
  maxNewTokens?: number
}

/** Reads `dir/generation_config.json` if there is one; a missing file means the model config's ids. */
export function loadGenerationConfig(dir: string, model: ModelConfig): GenerationDefaults {
  const file = nodePath.join(dir, 'generation_config.json')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return fromModel(model)
    throw new FormatError(`${file}: cannot read: ${(e as Error).message}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new ConfigError(`${file}: not valid JSON (${(e as Error).message})`)
  }
  return parseGenerationConfig(json, model, file)
}

function fromModel(model: ModelConfig): GenerationDefaults {
  return {
    eosTokenIds: model.eosTokenIds.slice(),
    bosTokenId: model.bosTokenId,
    padTokenId: model.padTokenId,
  }
}

/** Normalises a parsed generation_config.json; `source` names the file in error messages. */
export function parseGenerationConfig(
  json: unknown,
  model: ModelConfig,
  source = 'generation_config.json',
): GenerationDefaults {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ConfigError(`${source}: must be a JSON object`)
  }
  const obj = json as Record<string, unknown>
  const fail = (name: string, want: string, v: unknown): never => {
    throw new ConfigError(`${source}: "${name}" must be ${want}, got ${shown(v)}`)
  }
  // null means "not set", as in transformers.
  const get = (name: string): unknown => (obj[name] === null ? undefined : obj[name])
  const num = (name: string, ok: (v: number) => boolean, want: string): number | undefined => {
    const v = get(name)
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(name, want, v)
    return v as number
  }
  const int = (name: string, ok: (v: number) => boolean, want: string): number | undefined => {
    const v = num(name, ok, want)
    if (v !== undefined && !Number.isSafeInteger(v)) fail(name, want, v)
    return v
  }
  const tokenId = (name: string): number | undefined => {
    const v = get(name)
    if (v === undefined) return undefined
    if (!Number.isSafeInteger(v)) fail(name, 'a token id (an integer)', v)
    return (v as number) >= 0 ? (v as number) : undefined
  }

  const out: GenerationDefaults = fromModel(model)
  const eos = get('eos_token_id')
  if (eos !== undefined) {
    const list = Array.isArray(eos) ? eos : [eos]
    if (!list.every((id) => Number.isSafeInteger(id)))
      fail('eos_token_id', 'a token id or a list of token ids', eos)
    out.eosTokenIds = [...new Set((list as number[]).filter((id) => id >= 0))]
  }
  const bos = tokenId('bos_token_id')
  if (bos !== undefined) out.bosTokenId = bos
  const pad = tokenId('pad_token_id')
  if (pad !== undefined) out.padTokenId = pad

  const settings: Omit<GenerationDefaults, 'eosTokenIds' | 'bosTokenId' | 'padTokenId'> = {
    temperature: num('temperature', (v) => v >= 0, 'a number ≥ 0'),
    topP: num('top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    topK: int('top_k', (v) => v >= 0, 'an integer ≥ 0'),
    minP: num('min_p', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    repetitionPenalty: num('repetition_penalty', (v) => v > 0, 'a number > 0'),
    maxNewTokens: int('max_new_tokens', (v) => v > 0, 'a positive integer'),
  }
  const doSample = get('do_sample')
  if (doSample !== undefined) {
    if (typeof doSample !== 'boolean') fail('do_sample', 'true or false', doSample)
    out.doSample = doSample as boolean
  }
  for (const [k, v] of Object.entries(settings)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v
  }
  return out
}
