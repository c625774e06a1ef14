// Decoders from tokenizer.json. Like the Rust crate, each maps a list of token strings to a new
// list (`decode_chain`), and the final text is the concatenation.

import { fromByteLevel } from './byte-level.js'
import { unsupported } from './errors.js'
import { parsePattern } from './normalizers.js'

export type Decoder = (tokens: string[]) => string[]

type Json = Record<string, unknown>

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
const byteFallback: Decoder = (tokens) => {
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

function strip(c: Json): Decoder {
  const content = String(c.content ?? ' ')
  const start = Number(c.start ?? 0)
  const stop = Number(c.stop ?? 0)
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

function metaspace(c: Json): Decoder {
  const replacement = String(c.replacement ?? '\u2581')
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

function ctc(c: Json): Decoder {
  const pad = String(c.pad_token ?? '<pad>')
  const delimiter = String(c.word_delimiter_token ?? '|')
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

export function createDecoder(cfg: unknown): Decoder | undefined {
  if (cfg === null || cfg === undefined) return undefined
  const c = cfg as Json
  switch (c.type) {
    case 'Sequence': {
      const steps = ((c.decoders as unknown[]) ?? []).map(createDecoder).filter((d) => d !== undefined)
      return (tokens) => {
        for (const step of steps) tokens = step(tokens)
        return tokens
      }
    }
    case 'ByteLevel':
      return (tokens) => [fromByteLevel(tokens)]
    case 'Metaspace':
      return metaspace(c)
    case 'WordPiece': {
      const prefix = String(c.prefix ?? '##')
      const clean = c.cleanup !== false
      return (tokens) =>
        tokens.map((t, i) => {
          // The first token keeps a leading "##", as in the Rust decoder.
          if (i !== 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : ` ${t}`
          return clean ? cleanup(t) : t
        })
    }
    case 'BPEDecoder': {
      const suffix = String(c.suffix ?? '</w>')
      return (tokens) => tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? '' : ' '))
    }
    case 'ByteFallback':
      return byteFallback
    case 'Fuse':
      return (tokens) => [tokens.join('')]
    case 'Strip':
      return strip(c)
    case 'Replace': {
      const re = parsePattern(c.pattern, 'Replace decoder')
      const content = String(c.content ?? '')
      return (tokens) => tokens.map((t) => t.replace(re, () => content))
    }
    case 'CTC':
      return ctc(c)
    default:
      return unsupported('decoder', c.type, SUPPORTED)
  }
}
