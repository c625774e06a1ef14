// A sentence-transformers folder's own settings, so embeddings come out as SentenceTransformer
// .encode makes them: modules.json (Transformer → Pooling → Normalize), the pooling config
// (1_Pooling/config.json: modes, include_prompt), sentence_bert_config.json's max_seq_length and
// config_sentence_transformers.json's prompts. Modules kiln cannot run (Dense, …) are refused.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { ConfigError } from '../errors.js'
import { shown } from '../util/shown.js'

/** How token vectors become one vector; several modes are concatenated in this order. */
export type PoolingMode = 'cls' | 'max' | 'mean' | 'mean_sqrt_len' | 'last'
export const POOLING_MODES: readonly PoolingMode[] = ['cls', 'max', 'mean', 'mean_sqrt_len', 'last']

const POOLING_KEYS: Record<string, PoolingMode> = {
  pooling_mode_cls_token: 'cls',
  pooling_mode_max_tokens: 'max',
  pooling_mode_mean_tokens: 'mean',
  pooling_mode_mean_sqrt_len_tokens: 'mean_sqrt_len',
  pooling_mode_lasttoken: 'last',
}

export interface SentenceTransformerConfig {
  pooling: PoolingMode[]
  /** Whether the prompt's tokens count in the pooling (Pooling include_prompt, default true). */
  includePrompt: boolean
  normalize: boolean
  maxSeqLength?: number
  prompts: Record<string, string>
  defaultPromptName?: string
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new ConfigError(`${file}: ${(e as Error).message}`)
  }
}

function object(v: unknown, file: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError(`${file}: must be a JSON object`)
  return v as Record<string, unknown>
}

function poolingConfig(
  dir: string,
  modulePath: string,
): Pick<SentenceTransformerConfig, 'pooling' | 'includePrompt'> {
  const file = path.join(dir, modulePath, 'config.json')
  const c = object(readJsonFile(file), file)
  if (c.pooling_mode_weightedmean_tokens === true)
    throw new ConfigError(
      `${file}: weighted-mean pooling is not supported (supported: ${POOLING_MODES.join(', ')})`,
    )
  const pooling = Object.entries(POOLING_KEYS)
    .filter(([key]) => c[key] === true)
    .map(([, mode]) => mode)
  if (pooling.length === 0) throw new ConfigError(`${file}: no pooling mode is set`)
  return { pooling, includePrompt: c.include_prompt !== false }
}

/** The folder's sentence-transformers settings; undefined when it has no modules.json. */
export function readSentenceTransformerConfig(dir: string): SentenceTransformerConfig | undefined {
  const modulesFile = path.join(dir, 'modules.json')
  if (!existsSync(modulesFile)) return undefined
  const modules = readJsonFile(modulesFile)
  if (!Array.isArray(modules)) throw new ConfigError(`${modulesFile}: must be a list of modules`)
  const config: SentenceTransformerConfig = {
    pooling: ['mean'],
    includePrompt: true,
    normalize: false,
    prompts: {},
  }
  for (const m of modules) {
    const { type, path: modulePath } = object(m, modulesFile)
    const kind = String(type).split('.').pop()
    if (kind === 'Transformer') continue
    if (kind === 'Pooling') Object.assign(config, poolingConfig(dir, String(modulePath)))
    else if (kind === 'Normalize') config.normalize = true
    else
      throw new ConfigError(
        `${modulesFile}: module ${String(type)} is not supported (supported: Transformer, Pooling, Normalize)`,
      )
  }
  const bertFile = path.join(dir, 'sentence_bert_config.json')
  if (existsSync(bertFile)) {
    const max = object(readJsonFile(bertFile), bertFile).max_seq_length
    if (max !== undefined && max !== null) {
      if (!Number.isSafeInteger(max) || (max as number) < 1)
        throw new ConfigError(`${bertFile}: "max_seq_length" must be a positive integer, got ${shown(max)}`)
      config.maxSeqLength = max as number
    }
  }
  const stFile = path.join(dir, 'config_sentence_transformers.json')
  if (existsSync(stFile)) {
    const st = object(readJsonFile(stFile), stFile)
    if (st.prompts !== undefined && st.prompts !== null) {
      const prompts = object(st.prompts, stFile)
      for (const [name, text] of Object.entries(prompts)) {
        if (typeof text !== 'string') throw new ConfigError(`${stFile}: prompt "${name}" must be a string`)
        config.prompts[name] = text
      }
    }
    if (typeof st.default_prompt_name === 'string') config.defaultPromptName = st.default_prompt_name
  }
  return config
}
