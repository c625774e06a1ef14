// Decoders from tokenizer.json. Like the Rust crate, each maps a list of token strings to a new
// list (`decode_chain`), and the final text is the concatenation.

import { shown } from '../util/shown.js'
import { fromByteLevel } from './byte-level.js'
import { TokenizerError, unsupported } from './errors.js'
import {
  charField,
  checkGrowth,
  countField,
  growthLimit,
  isObject,
  type Json,
  listField,
  StageCount,
  stringField,
  totalLength,
} from './fields.js'
import { parsePattern } from './normalizers.js'

export type Decoder = (tokens: string[]) => string[]

/**
 * One stage, given the most characters its output may have (decoding may grow the text only so
 * far: fields.ts MAX_GROWTH). A Replace checks it as it goes; the other stages at most double the
 * text (a space per token), and a Sequence checks after each.
 */
type Stage = (tokens: string[], limit: number) => string[]

const SUPPORTED = [
  'Sequence',
  'ByteLevel',
  'Metaspace',
  'WordPiece',
  'BPEDecoder',
  'ByteFallback',
  'Fuse',
  'Strip',
  'Replace',
  'CTC',
]

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** `<0xNN>` tokens become bytes; a run that is not valid UTF-8 gives one U+FFFD per byte. */
const byteFallback: Stage = (tokens) => {
  const out: string[] = []
  let bytes: number[] = []
  const flush = () => {
    if (bytes.length === 0) return
    try {
      out.push(strictUtf8.decode(Uint8Array.from(bytes)))
    } catch {
      for (let k = 0; k < bytes.length; k++) out.push('\ufffd')
    }
    bytes = []
  }
  for (const t of tokens) {
    const b =
      t.length === 6 && t.startsWith('<0x') && t.endsWith('>')
        ? Number.parseInt(t.slice(3, 5), 16)
        : Number.NaN
    if (Number.isNaN(b)) {
      flush()
      out.push(t)
    } else {
      bytes.push(b)
    }
  }
  flush()
  return out
}

/** WordPiece's per-token cleanup (Rust applies it to each token, not the joined text). */
function cleanup(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(' do not', " don't")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re")
}

function strip(c: Json): Stage {
  const content = stringField(c.content, 'Strip decoder "content"', ' ')
  const start = countField(c.start, 'Strip decoder "start"', 0)
  const stop = countField(c.stop, 'Strip decoder "stop"', 0)
  return (tokens) =>
    tokens.map((t) => {
      const chars = [...t]
      let a = 0
      while (a < start && a < chars.length && chars[a] === content) a++
      let b = chars.length
      while (chars.length - b < stop && b > a && chars[b - 1] === content) b--
      return a === 0 && b === chars.length ? t : chars.slice(a, b).join('')
    })
}

function metaspace(c: Json): Stage {
  const replacement = charField(c.replacement, 'Metaspace decoder "replacement"', '\u2581')
  const scheme =
    typeof c.prepend_scheme === 'string'
      ? c.prepend_scheme
      : c.add_prefix_space === false
        ? 'never'
        : 'always'
  return (tokens) =>
    tokens.map((t, i) => {
      // The first token loses its replacement characters entirely (the prepended space).
      if (i === 0 && scheme !== 'never') return t.replaceAll(replacement, '')
      return t.replaceAll(replacement, ' ')
    })
}

function ctc(c: Json): Stage {
  const pad = stringField(c.pad_token, 'CTC decoder "pad_token"', '<pad>')
  const delimiter = stringField(c.word_delimiter_token, 'CTC decoder "word_delimiter_token"', '|')
  const clean = c.cleanup !== false
  return (tokens) => {
    const out: string[] = []
    for (let i = 0; i < tokens.length; i++) {
      if (i > 0 && tokens[i] === tokens[i - 1]) continue
      let t = tokens[i].replaceAll(pad, '')
      if (clean) t = cleanup(t).replaceAll(delimiter, ' ')
      if (t) out.push(t)
    }
    return out
  }
}

function replace(c: Json): Stage {
  const re = parsePattern(c.pattern, 'Replace decoder')
  const content = stringField(c.content, 'Replace decoder "content"', '')
  return (tokens, limit) => {
    // Counted as it goes, so that a Replace that would pass the limit stops before building the text.
    let length = totalLength(tokens)
    return tokens.map((t) =>
      t.replace(re, (m: string) => {
        length += content.length - m.length
        checkGrowth(length, limit, 'decoder')
        return content
      }),
    )
  }
}

/** tokenizer.json's `decoder` section (null: none). */
export function createDecoder(cfg: unknown): Decoder | undefined {
  const root = build(cfg, new StageCount('decoder'))
  if (!root) return undefined
  return (tokens) => root(tokens, growthLimit(totalLength(tokens), 'decoder'))
}

function build(cfg: unknown, count: StageCount): Stage | undefined {
  if (cfg === null || cfg === undefined) return undefined
  if (!isObject(cfg))
    throw new TokenizerError(`tokenizer.json: a decoder must be an object, got ${shown(cfg)}`)
  count.add()
  const c = cfg
  switch (c.type) {
    case 'Sequence': {
      const steps: Stage[] = []
      for (const item of listField(c.decoders, 'decoder Sequence "decoders"')) {
        const step = build(item, count)
        if (step) steps.push(step)
      }
      return (tokens, limit) => {
        for (const step of steps) {
          tokens = step(tokens, limit)
          checkGrowth(totalLength(tokens), limit, 'decoder')
        }
        return tokens
      }
    }
    case 'ByteLevel':
      return (tokens) => [fromByteLevel(tokens)]
    case 'Metaspace':
      return metaspace(c)
    case 'WordPiece': {
      const prefix = stringField(c.prefix, 'WordPiece decoder "prefix"', '##')
      const clean = c.cleanup !== false
      return (tokens) =>
        tokens.map((t, i) => {
          // The first token keeps a leading "##", as in the Rust decoder.
          if (i !== 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : ` ${t}`
          return clean ? cleanup(t) : t
        })
    }
    case 'BPEDecoder': {
      const suffix = stringField(c.suffix, 'BPEDecoder "suffix"', '</w>')
      return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '))
    }
    case 'ByteFallback':
      return byteFallback
    case 'Fuse':
      return (tokens) => [tokens.join('')]
    case 'Strip':
      return strip(c)
    case 'Replace':
      return replace(c)
    case 'CTC':
      return ctc(c)
    default:
      return unsupported('decoder', c.type, SUPPORTED)
  }
}
