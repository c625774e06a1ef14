// The pre-tokenizers llama.cpp names in `tokenizer.ggml.pre`, as kiln reads them (from-gguf.ts)
// and writes them back as tokenizer.json (gguf-tokenizer-json.ts), and the GGUF token types that
// are matched in text as added tokens.
import { GGUF_TOKEN_TYPE } from '../formats/gguf-types.js'
import type { GgufMetadata } from '../models/gguf-metadata.js'
import { quote } from '../util/shown.js'

// Split patterns, as tokenizer.json writes them, of the pre-tokenizers llama.cpp names. The names
// and patterns are those src/core/export/gguf-tokenizer.ts writes (KNOWN_SPLITS), plus llama.cpp's
// aliases for them and its fallback for unnamed ones ("default").
const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/** llama.cpp's regexes for a BPE vocabulary whose pre-tokenizer it does not know, applied in turn. */
const DEFAULT_SPLITS = [
  '[\\p{P}\\$\\+<=>\\^~\\|]+',
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
  '\\p{N}+',
  '[0-9][0-9][0-9]',
]

/** llama.cpp's regexes for SmolLM (and StarCoder-style) vocabularies: single digits, then GPT-2's. */
const SMOLLM_SPLITS = [
  '\\p{N}',
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
]

export interface PreTokenizerKind {
  /** Regexes applied in turn (Split, Isolated), before the byte mapping; undefined: GPT-2's own. */
  splits?: string[]
  /** llama.cpp's llama3 vocabularies take a whole word that is a token without merging. */
  ignoreMerges?: boolean
  /** Whether llama.cpp adds BOS when `tokenizer.ggml.add_bos_token` is absent. */
  addBos?: boolean
}

export const PRE_TOKENIZERS: Record<string, PreTokenizerKind> = {
  'llama-bpe': { splits: [LLAMA3_SPLIT], ignoreMerges: true, addBos: true },
  llama3: { splits: [LLAMA3_SPLIT], ignoreMerges: true, addBos: true },
  'llama-v3': { splits: [LLAMA3_SPLIT], ignoreMerges: true, addBos: true },
  qwen2: { splits: [QWEN2_SPLIT] },
  'deepseek-r1-qwen': { splits: [QWEN2_SPLIT] },
  'gpt-2': {},
  smollm: { splits: SMOLLM_SPLITS },
  default: { splits: DEFAULT_SPLITS },
}

/** Token types matched in the text as added tokens: unknown and control (special), user-defined. */
export const ADDED_TYPES = new Set<number>([
  GGUF_TOKEN_TYPE.unknown,
  GGUF_TOKEN_TYPE.control,
  GGUF_TOKEN_TYPE.userDefined,
])

/** The pre-tokenizer named by `tokenizer.ggml.pre` (absent: llama.cpp's "default"). */
export function ggufPreTokenizer(
  meta: GgufMetadata,
): PreTokenizerKind & { tokenizerJson: Record<string, unknown> } {
  const key = 'tokenizer.ggml.pre'
  const name = meta.string(key, 'default')
  const kind = Object.hasOwn(PRE_TOKENIZERS, name) ? PRE_TOKENIZERS[name] : undefined
  if (kind === undefined) {
    meta.fail(
      key,
      `is ${quote(name)}, a pre-tokenizer kiln does not know (supported: ${Object.keys(PRE_TOKENIZERS).join(', ')})`,
    )
  }
  if (kind.splits === undefined) {
    return {
      ...kind,
      tokenizerJson: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    }
  }
  const splits = kind.splits.map((regex) => ({
    type: 'Split',
    pattern: { Regex: regex },
    behavior: 'Isolated',
    invert: false,
  }))
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }
  return { ...kind, tokenizerJson: { type: 'Sequence', pretokenizers: [...splits, byteLevel] } }
}

/** The byte-level decoder of a BPE vocabulary with a pre-tokenizer (GPT-2's, Llama 3's, Qwen's). */
export const BYTE_LEVEL_DECODER = {
  type: 'ByteLevel',
  add_prefix_space: true,
  trim_offsets: true,
  use_regex: true,
}

/**
 * llama.cpp's SentencePiece tokenizer ("llama") as tokenizer.json stages: spaces become "▁" (with one
 * in front unless `tokenizer.ggml.add_space_prefix` is false), and the decoder undoes both.
 */
export function llamaSpmStages(meta: GgufMetadata): { normalizer: unknown; decoder: unknown } {
  const spacePrefix = meta.boolean('tokenizer.ggml.add_space_prefix', true)
  const replace = { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }
  return {
    normalizer: spacePrefix
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, replace] }
      : replace,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(spacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
  }
}
