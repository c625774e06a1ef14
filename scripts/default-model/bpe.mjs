// A byte-level BPE tokenizer (GPT-2's scheme) trained on a text, written as a tokenizer.json that
// kiln and Hugging Face tokenizers read. Deterministic: ties between equally frequent pairs go to
// the pair whose text sorts first, never to Map order.
//
// Speed: the words are counted once, and each merge touches only the words that hold its pair
// (an index pair → words), instead of recounting every pair of every word per merge.

// GPT-2's reversible byte → printable character map.
function bytesToUnicode() {
  const bs = []
  for (let b = 33; b <= 126; b++) bs.push(b)
  for (let b = 161; b <= 172; b++) bs.push(b)
  for (let b = 174; b <= 255; b++) bs.push(b)
  const cs = [...bs]
  let n = 0
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b)
      cs.push(256 + n++)
    }
  }
  const map = new Map()
  for (let i = 0; i < bs.length; i++) map.set(bs[i], String.fromCodePoint(cs[i]))
  return map
}

// The pre-tokenizer's split (ByteLevel with use_regex: GPT-2's pattern).
const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu

const MAX_SYMBOLS = 1 << 16
const pairKey = (a, b) => a * MAX_SYMBOLS + b

/**
 * Trains on `texts` (strings) until the vocabulary holds `vocabSize` tokens, `specials` last.
 * Returns the tokenizer.json object.
 */
export function trainBpe(texts, vocabSize, specials) {
  const b2u = bytesToUnicode()
  const symbols = [] // id → token text
  for (let b = 0; b < 256; b++) symbols.push(b2u.get(b))
  const byteId = new Map([...b2u].map(([b, s]) => [b, symbols.indexOf(s)]))

  const wordCounts = new Map()
  for (const text of texts)
    for (const w of text.match(SPLIT) ?? []) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1)
  const words = [...wordCounts.keys()].sort() // sorted: the result must not depend on text order
  const syms = words.map((w) => [...Buffer.from(w, 'utf8')].map((b) => byteId.get(b)))
  const freq = words.map((w) => wordCounts.get(w))

  const pairCount = new Map() // pairKey → occurrences, weighted by word frequency
  const pairWords = new Map() // pairKey → Set of word indices holding it
  const addPairs = (w, sign) => {
    const s = syms[w]
    for (let i = 0; i + 1 < s.length; i++) {
      const k = pairKey(s[i], s[i + 1])
      const c = (pairCount.get(k) ?? 0) + sign * freq[w]
      if (c === 0) pairCount.delete(k)
      else pairCount.set(k, c)
      if (sign > 0) {
        const set = pairWords.get(k)
        if (set) set.add(w)
        else pairWords.set(k, new Set([w]))
      }
    }
  }
  for (let w = 0; w < words.length; w++) addPairs(w, 1)

  const pairText = (k) => `${symbols[Math.floor(k / MAX_SYMBOLS)]} ${symbols[k % MAX_SYMBOLS]}`
  const merges = []
  while (symbols.length < vocabSize - specials.length) {
    let best = -1
    let bestCount = 0
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && pairText(k) < pairText(best))) {
        best = k
        bestCount = c
      }
    }
    if (bestCount === 0) break
    const a = Math.floor(best / MAX_SYMBOLS)
    const b = best % MAX_SYMBOLS
    const ab = symbols.length
    symbols.push(symbols[a] + symbols[b])
    merges.push([symbols[a], symbols[b]])
    for (const w of pairWords.get(best)) {
      addPairs(w, -1)
      const s = syms[w]
      const next = []
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          next.push(ab)
          i++
        } else next.push(s[i])
      }
      syms[w] = next
      addPairs(w, 1)
    }
    pairCount.delete(best)
    pairWords.delete(best)
  }

  const vocab = Object.fromEntries(symbols.map((s, i) => [s, i]))
  const added = specials.map((content, i) => {
    vocab[content] = symbols.length + i
    return {
      id: symbols.length + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }
  })
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  }
}
