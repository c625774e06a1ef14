// The `tokenizer.*` GGUF metadata of a model folder, from its tokenizer.json and tokenizer_config.json,
// as llama.cpp's converter writes it: byte-level BPE as `gpt2` (+ a pre-tokenizer name picked from
// the split regex), SentencePiece-style BPE with byte fallback as `llama` (+ scores from merge ranks).
import { existsSync, readFileSync } from 'node:fs'
import nodePath from 'node:path'
import { FormatError } from '../errors.js'
import { GGUF_TOKEN_TYPE, type GgufValue, gguf } from '../formats/gguf-types.js'
import type { ModelConfig } from '../models/config.js'
import { parseAddedTokens } from '../tokenizer/added-tokens.js'
import { selectChatTemplate, tokenContent } from '../tokenizer/chat-template.js'
import { Tokenizer } from '../tokenizer/tokenizer.js'

type Json = Record<string, unknown>

export interface TokenizerMetadata {
  entries: [string, GgufValue][]
  /** Things llama.cpp may do differently from transformers (an unrecognised pre-tokenizer, …). */
  warnings: string[]
  /** `gpt2` or `llama` */
  model: 'gpt2' | 'llama'
  pre?: string
  /** Placeholder tokens added to reach the config's vocab_size. */
  padded: number
}

// Split patterns of the pre-tokenizers llama.cpp knows, by its name for them.
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
const KNOWN_SPLITS: [string, string][] = [
  [LLAMA3_PATTERN, 'llama-bpe'],
  [QWEN2_PATTERN, 'qwen2'],
  [GPT2_PATTERN, 'gpt-2'],
]

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new FormatError(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Every pre-tokenizer step, flattening Sequences. */
function preTokenizerSteps(pre: unknown): Json[] {
  if (!isObject(pre)) return []
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers))
    return pre.pretokenizers.flatMap(preTokenizerSteps)
  return [pre]
}

/** llama.cpp's name for a byte-level BPE pre-tokenizer, or undefined when none matches. */
export function preTokenizerName(pre: unknown): string | undefined {
  const steps = preTokenizerSteps(pre)
  const splits = steps
    .filter((s) => s.type === 'Split' && isObject(s.pattern) && typeof s.pattern.Regex === 'string')
    .map((s) => (s.pattern as Json).Regex as string)
  if (splits.length === 1) return KNOWN_SPLITS.find(([p]) => p === splits[0])?.[1]
  if (splits.length > 1) return undefined
  const byteLevel = steps.find((s) => s.type === 'ByteLevel')
  if (byteLevel && byteLevel.use_regex !== false) return 'gpt-2'
  return undefined
}

/** Merges as "a b" strings, from either tokenizer.json form ("a b" or ["a", "b"]). */
function mergeStrings(merges: unknown, file: string): string[] {
  if (merges === undefined) return []
  if (!Array.isArray(merges)) throw new FormatError(`${file}: "model.merges" must be a list`)
  return merges.map((m, i) => {
    if (typeof m === 'string') return m
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      if (m[0].includes(' ') || m[1].includes(' ')) {
        throw new FormatError(
          `${file}: merge ${i} ${JSON.stringify(m)} has a space, which GGUF's "a b" form cannot hold`,
        )
      }
      return `${m[0]} ${m[1]}`
    }
    throw new FormatError(`${file}: merge ${i} must be "a b" or ["a", "b"], got ${JSON.stringify(m)}`)
  })
}

/** Builds the tokenizer metadata for a model folder; `config.vocabSize` sets the token count. */
export function tokenizerMetadata(dir: string, config: ModelConfig): TokenizerMetadata {
  const file = nodePath.join(dir, 'tokenizer.json')
  if (!existsSync(file)) {
    throw new FormatError(
      `${file}: not found (a GGUF file carries the vocabulary, so export needs tokenizer.json)`,
    )
  }
  const tj = readJson(file)
  if (!isObject(tj) || !isObject(tj.model))
    throw new FormatError(`${file}: expected an object with a "model" section`)
  const configFile = nodePath.join(dir, 'tokenizer_config.json')
  const tc = existsSync(configFile) ? readJson(configFile) : {}
  const tconfig: Json = isObject(tc) ? tc : {}
  const model = tj.model
  const warnings: string[] = []

  if (model.type !== undefined && model.type !== 'BPE') {
    throw new FormatError(
      `${file}: tokenizer model "${String(model.type)}" cannot be exported to GGUF yet (only BPE)`,
    )
  }
  if (!isObject(model.vocab)) throw new FormatError(`${file}: "model.vocab" must be an object`)
  const byteFallback = model.byte_fallback === true
  const steps = preTokenizerSteps(tj.pre_tokenizer)
  const byteLevel = steps.some((s) => s.type === 'ByteLevel')
  if (!byteFallback && !byteLevel) {
    throw new FormatError(
      `${file}: BPE without a ByteLevel pre-tokenizer or byte_fallback has no llama.cpp tokenizer equivalent`,
    )
  }
  const ggmlModel: 'gpt2' | 'llama' = byteLevel ? 'gpt2' : 'llama'

  // Token list: model vocab, then added tokens (which win), padded to the model's vocab size.
  const V = config.vocabSize
  const tokens: (string | undefined)[] = new Array(V)
  const types = new Int32Array(V)
  const check = (id: number, what: string) => {
    if (!Number.isSafeInteger(id) || id < 0) throw new FormatError(`${file}: ${what} has id ${id}`)
    if (id >= V) {
      throw new FormatError(`${file}: ${what} has id ${id}, but config.json's vocab_size is ${V}`)
    }
  }
  for (const [text, id] of Object.entries(model.vocab)) {
    check(id as number, `token ${JSON.stringify(text)}`)
    tokens[id as number] = text
    types[id as number] =
      ggmlModel === 'llama' && BYTE_TOKEN.test(text) ? GGUF_TOKEN_TYPE.byte : GGUF_TOKEN_TYPE.normal
  }
  const added = parseAddedTokens(tj.added_tokens)
  for (const t of added) {
    check(t.id, `added token ${JSON.stringify(t.content)}`)
    tokens[t.id] = t.content
    types[t.id] = t.special ? GGUF_TOKEN_TYPE.control : GGUF_TOKEN_TYPE.userDefined
  }
  let padded = 0
  for (let i = 0; i < V; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`
      types[i] = GGUF_TOKEN_TYPE.unused
      padded++
    }
  }

  const merges = mergeStrings(model.merges, file)
  const ids = new Map<string, number>()
  for (let i = V - 1; i >= 0; i--) ids.set(tokens[i]!, i)

  const entries: [string, GgufValue][] = [['tokenizer.ggml.model', gguf.string(ggmlModel)]]
  let pre: string | undefined
  if (ggmlModel === 'gpt2') {
    pre = preTokenizerName(tj.pre_tokenizer)
    if (pre === undefined) {
      pre = 'default'
      warnings.push(
        `${file}: pre-tokenizer not recognised; wrote tokenizer.ggml.pre = "default", so llama.cpp may split text differently`,
      )
    }
    entries.push(['tokenizer.ggml.pre', gguf.string(pre)])
  } else {
    pre = 'default'
    entries.push(['tokenizer.ggml.pre', gguf.string(pre)])
  }
  entries.push(['tokenizer.ggml.tokens', gguf.array('string', tokens as string[])])
  if (ggmlModel === 'llama') {
    // SentencePiece merges by token score; the inverse of transformers' SPM → BPE conversion is
    // score = −(rank of the merge that makes the token). Tokens no merge makes score below all of them.
    const scores = new Float32Array(V).fill(-(merges.length + 1))
    for (let r = merges.length - 1; r >= 0; r--) {
      const id = ids.get(merges[r].replace(' ', ''))
      if (id !== undefined) scores[id] = -r
    }
    for (let i = 0; i < V; i++) if (types[i] !== GGUF_TOKEN_TYPE.normal) scores[i] = 0
    entries.push(['tokenizer.ggml.scores', gguf.array('f32', scores)])
  }
  entries.push(['tokenizer.ggml.token_type', gguf.array('i32', types)])
  entries.push(['tokenizer.ggml.merges', gguf.array('string', merges)])

  // Special ids: tokenizer_config.json's tokens first, config.json's ids where it names none.
  const idOf = (key: string): number | undefined => {
    const content = tokenContent(tconfig[key])
    return content === undefined ? undefined : ids.get(content)
  }
  const unkContent = typeof model.unk_token === 'string' ? model.unk_token : undefined
  const special: [string, number | undefined][] = [
    ['bos_token_id', idOf('bos_token') ?? config.bosTokenId],
    ['eos_token_id', idOf('eos_token') ?? config.eosTokenIds[0]],
    ['unknown_token_id', idOf('unk_token') ?? (unkContent === undefined ? undefined : ids.get(unkContent))],
    ['padding_token_id', idOf('pad_token') ?? config.padTokenId],
  ]
  for (const [key, id] of special) {
    if (id !== undefined && id >= 0 && id < V) entries.push([`tokenizer.ggml.${key}`, gguf.u32(id)])
  }

  // Whether encode() adds BOS / EOS: ask kiln's own tokenizer, which runs the post-processor.
  const bos = special[0][1]
  const eos = special[1][1]
  let addBos = false
  let addEos = false
  try {
    const probe = Tokenizer.fromFolder(dir).encode('a')
    addBos = bos !== undefined && probe[0] === bos
    addEos = eos !== undefined && probe.length > 1 && probe[probe.length - 1] === eos
  } catch (e) {
    if (typeof tconfig.add_bos_token === 'boolean') addBos = tconfig.add_bos_token
    if (typeof tconfig.add_eos_token === 'boolean') addEos = tconfig.add_eos_token
    warnings.push(`could not run the tokenizer to see whether it adds BOS/EOS (${(e as Error).message})`)
  }
  entries.push(['tokenizer.ggml.add_bos_token', gguf.bool(addBos)])
  entries.push(['tokenizer.ggml.add_eos_token', gguf.bool(addEos)])
  if (ggmlModel === 'llama') entries.push(['tokenizer.ggml.add_space_prefix', gguf.bool(prependsSpace(tj))])

  const jinja = nodePath.join(dir, 'chat_template.jinja')
  const template = selectChatTemplate(
    existsSync(jinja) ? readFileSync(jinja, 'utf8') : undefined,
    tconfig.chat_template,
  )
  if (template !== undefined) entries.push(['tokenizer.chat_template', gguf.string(template)])
  return { entries, warnings, model: ggmlModel, pre, padded }
}

/** SentencePiece's add_dummy_prefix, as tokenizer.json spells it (Prepend "▁" or Metaspace). */
function prependsSpace(tj: Json): boolean {
  const norms = isObject(tj.normalizer)
    ? tj.normalizer.type === 'Sequence' && Array.isArray(tj.normalizer.normalizers)
      ? (tj.normalizer.normalizers as unknown[])
      : [tj.normalizer]
    : []
  if (norms.some((n) => isObject(n) && n.type === 'Prepend' && n.prepend === '\u2581')) return true
  return preTokenizerSteps(tj.pre_tokenizer).some(
    (s) =>
      s.type === 'Metaspace' &&
      (s.prepend_scheme === undefined ? s.add_prefix_space !== false : s.prepend_scheme !== 'never'),
  )
}
