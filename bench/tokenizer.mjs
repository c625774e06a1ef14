// Tokenizer encode throughput (MB of UTF-8 text per second, median of runs) for kiln (one thread)
// and, with --compare (the default when run directly), the Rust `tokenizers` package on the same
// tokenizer.json and the same ~10 MB text: its encode() one call at a time, and at its best
// (encodeBatch or concurrent encode() calls, on every core). Vocabularies are built offline from a
// generated English-like corpus: byte-level BPE (Llama 3 / GPT-2 style), SentencePiece-style BPE
// with byte fallback, WordPiece (BERT uncased) and Unigram (XLM-R: the real nmt_nfkc Precompiled
// charsmap of test/fixtures/tokenizers/xlmr-unigram, Metaspace).
// Run `npx tsc -p tsconfig.build.json && node bench/tokenizer.mjs [--no-compare]`
// (KILN_DIST=<folder> benchmarks another build of kiln's dist).

import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'

const CORPUS_BYTES = 10 * 1024 * 1024
const MERGES = 4000
const RUNS = 5

const COMMON =
  `the of and to a in is that for it as was with be by on not he this are or his from at which but have an
they you were her she there been one all we their has would when if so no will more can who its out up about into than
them only other new some could time these two may first then do any like my now over such our man me even most made after
also did many before must through back years where much your way well down should because each just those people how too
little state good very make world still own see men work long get here between both life being under never day same another
know while last might us great old year off come since against go came right used take three states himself few house use
during without again place american around however home small found thought went say part once general high upon school
every united left number course war until always away something fact though water less public put think almost hand enough
far took head yet government system better set told nothing night end why called eyes find going look asked later knew
point next city business give group toward young let room president side social given present several order national
possible rather second face per among form important often things looked early white john case become large big need four
within felt along children saw best church ever least power development light thing seemed family interest want members
mind country area others done turned although open god service certain kind problem began different door thus help means
sense whole matter perhaps itself york times law human line above name example action company hands local show whether five
history gave today either act feet across taken past quite anything seen having death week experience body word half really
field am car words already themselves information tell college shall together money period held keep sure probably free
seems real behind cannot miss political air question making office brought whose special heard major problems ago became
federal moment study available known result street economic boy position reason change south board individual job areas
society west close turn love community true court force full seem model license software free copyleft version control
tokenizer transformer attention network training inference kernel memory vector matrix layer weights gradient`
    .split(/\s+/)
    .filter(Boolean)

/** Deterministic PRNG (mulberry32) so every run measures the same text. */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** English-like text: Zipf-distributed common words, a long tail of rarer made-up words,
 * capitals, punctuation, numbers, contractions and paragraph breaks. */
export function makeCorpus(bytes, seed = 1) {
  const rand = rng(seed)
  const syllables =
    'ka lo mi ne ra so tu ve wi xa ber con dis ent ful ing ion ism ment ness pre pro sub ter tion ure'.split(
      ' ',
    )
  const rare = []
  for (let i = 0; i < 20000; i++) {
    const n = 2 + Math.floor(rand() * 3)
    let w = ''
    for (let k = 0; k < n; k++) w += syllables[Math.floor(rand() * syllables.length)]
    rare.push(w)
  }
  const zipf = (n) => Math.min(n - 1, Math.floor(n ** rand()) - 1)
  const parts = []
  let size = 0
  let sentenceStart = true
  while (size < bytes) {
    let w = rand() < 0.88 ? COMMON[zipf(COMMON.length)] : rare[zipf(rare.length)]
    const r = rand()
    if (r < 0.01) w = String(Math.floor(rand() * 100000))
    else if (r < 0.02) w += rand() < 0.5 ? "'s" : "n't"
    if (sentenceStart || rand() < 0.03) w = w[0].toUpperCase() + w.slice(1)
    sentenceStart = false
    let sep = ' '
    const p = rand()
    if (p < 0.06) sep = ', '
    else if (p < 0.12) {
      sep = rand() < 0.15 ? '.\n\n' : '. '
      sentenceStart = true
    }
    const piece = w + sep
    parts.push(piece)
    size += piece.length
  }
  return parts.join('')
}

/** GPT-2's byte → printable character table. */
function byteChars() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  const out = []
  let next = 256
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(printable(b) ? b : next++))
  return out
}

/** Trains `merges` BPE merges over word counts (keys are symbols joined by U+0000). */
function trainMerges(wordCounts, merges) {
  const words = [...wordCounts.entries()].map(([syms, count]) => ({ syms: syms.split('\u0000'), count }))
  const pairCounts = new Map()
  const where = new Map()
  // Lazy max-heap of [count, pair]: stale entries are skipped when popped.
  const heap = []
  const better = (x, y) => x[0] > y[0] || (x[0] === y[0] && x[1] < y[1])
  const push = (item) => {
    let i = heap.length
    heap.push(item)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!better(item, heap[p])) break
      heap[i] = heap[p]
      i = p
    }
    heap[i] = item
  }
  const pop = () => {
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0) {
      let i = 0
      while (true) {
        const l = 2 * i + 1
        if (l >= heap.length) break
        const r = l + 1
        const c = r < heap.length && better(heap[r], heap[l]) ? r : l
        if (!better(heap[c], last)) break
        heap[i] = heap[c]
        i = c
      }
      heap[i] = last
    }
    return top
  }
  const touched = new Set()
  const addWord = (w, idx, sign) => {
    for (let k = 0; k + 1 < w.syms.length; k++) {
      const p = `${w.syms[k]}\u0000${w.syms[k + 1]}`
      pairCounts.set(p, (pairCounts.get(p) ?? 0) + sign * w.count)
      touched.add(p)
      if (sign > 0) {
        let set = where.get(p)
        if (!set) {
          set = new Set()
          where.set(p, set)
        }
        set.add(idx)
      }
    }
  }
  const flush = () => {
    for (const p of touched) push([pairCounts.get(p), p])
    touched.clear()
  }
  words.forEach((w, i) => {
    addWord(w, i, 1)
  })
  flush()
  const result = []
  while (result.length < merges && heap.length > 0) {
    const [count, best] = pop()
    if (pairCounts.get(best) !== count) continue
    if (count < 2) break
    const [a, b] = best.split('\u0000')
    result.push([a, b])
    for (const idx of where.get(best) ?? []) {
      const w = words[idx]
      addWord(w, idx, -1)
      const next = []
      for (let k = 0; k < w.syms.length; k++) {
        if (k + 1 < w.syms.length && w.syms[k] === a && w.syms[k + 1] === b) {
          next.push(a + b)
          k++
        } else next.push(w.syms[k])
      }
      w.syms = next
      addWord(w, idx, 1)
    }
    pairCounts.set(best, 0)
    touched.delete(best)
    flush()
  }
  return result
}

const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
const LLAMA3_SPLIT_JS =
  /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu

/** A byte-level BPE tokenizer.json; `style` picks Llama 3's or GPT-2's pre-tokenizer. */
export function buildByteLevelTokenizer(trainText, style) {
  const chars = byteChars()
  const enc = new TextEncoder()
  const counts = new Map()
  for (const m of trainText.matchAll(LLAMA3_SPLIT_JS)) {
    const syms = [...enc.encode(m[0])].map((b) => chars[b]).join('\u0000')
    counts.set(syms, (counts.get(syms) ?? 0) + 1)
  }
  const merges = trainMerges(counts, MERGES)
  const vocab = {}
  chars.forEach((c, i) => {
    vocab[c] = i
  })
  let size = chars.length
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = size++
  const specials = ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>']
  const base = size
  const added = specials.map((content, i) => ({
    id: base + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }))
  const preTokenizer =
    style === 'gpt2'
      ? { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
      : {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: LLAMA3_SPLIT }, behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
          ],
        }
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
      ],
      pair: [],
      special_tokens: {
        '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [base], tokens: ['<|begin_of_text|>'] },
      },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  }
}

/** A Llama 2 style tokenizer.json: ▁ normalizer, no pre-tokenizer, byte fallback. */
export function buildSentencePieceTokenizer(trainText) {
  const counts = new Map()
  // SentencePiece splits on whitespace while training, so pieces start with ▁.
  // Newlines are left to byte fallback (<0x0A>), as in Llama 2.
  const spaced = trainText.replaceAll('\n', '').replaceAll(' ', '\u2581')
  for (const w of spaced.split(/(?=\u2581)/u)) {
    const syms = [...w].join('\u0000')
    counts.set(syms, (counts.get(syms) ?? 0) + 1)
  }
  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 }
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b
  const charCounts = new Map()
  for (const ch of spaced) charCounts.set(ch, (charCounts.get(ch) ?? 0) + 1)
  let size = 259
  for (const [ch] of [...charCounts].sort((a, b) => b[1] - a[1])) vocab[ch] = size++
  const merges = trainMerges(counts, MERGES)
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = size++
  const special = (id, content) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  })
  return {
    version: '1.0',
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  }
}

/** A BERT-uncased style WordPiece: common words whole, BPE-trained pieces as word starts and ##continuations. */
export function buildWordPieceTokenizer(trainText) {
  const counts = new Map()
  for (const w of trainText.toLowerCase().match(/[a-z0-9]+/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1)
  const vocab = {}
  let size = 0
  const add = (t) => {
    if (!(t in vocab)) vocab[t] = size++
  }
  for (const t of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']) add(t)
  for (let c = 0x21; c < 0x7f; c++) {
    add(String.fromCharCode(c).toLowerCase())
    add(`##${String.fromCharCode(c).toLowerCase()}`)
  }
  for (const [w] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3000)) add(w)
  const symbols = new Map([...counts].map(([w, n]) => [[...w].join('\u0000'), n]))
  for (const [a, b] of trainMerges(symbols, MERGES)) {
    add(a + b)
    add(`##${a + b}`)
  }
  const special = (content) => ({
    id: vocab[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  })
  return {
    version: '1.0',
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map(special),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'BertProcessing',
      sep: ['[SEP]', vocab['[SEP]']],
      cls: ['[CLS]', vocab['[CLS]']],
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  }
}

/** An XLM-R style Unigram over the SentencePiece BPE's pieces, scored by merge rank (earlier = likelier). */
export function buildUnigramTokenizer(trainText) {
  const spBpe = buildSentencePieceTokenizer(trainText)
  const pieces = Object.entries(spBpe.model.vocab).sort((a, b) => a[1] - b[1])
  const vocab = pieces.map(([piece, id]) => [
    piece,
    id < 3 ? 0 : piece.startsWith('<0x') ? -30 : -Math.log(2 + id),
  ])
  const xlmr = JSON.parse(
    readFileSync(new URL('../test/fixtures/tokenizers/xlmr-unigram/tokenizer.json', import.meta.url), 'utf8'),
  )
  return {
    version: '1.0',
    added_tokens: spBpe.added_tokens,
    normalizer: xlmr.normalizer,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      pair: [],
      special_tokens: {
        '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] },
        '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] },
      },
    },
    decoder: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
    model: { type: 'Unigram', unk_id: 0, vocab, byte_fallback: false },
  }
}

function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
}

/** Median MB/s of `encode` over the text, encoded in paragraph-sized calls as a server would. */
function measure(encode, chunks, totalBytes) {
  encode(chunks[0]) // warm the JIT
  for (const c of chunks.slice(0, 200)) encode(c)
  const rates = []
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now()
    let n = 0
    for (const c of chunks) n += encode(c).length
    const s = (performance.now() - t0) / 1000
    if (n === 0) throw new Error('encoded nothing')
    rates.push(totalBytes / 1e6 / s)
  }
  return median(rates)
}

/** Best MB/s of `runs` async passes over all chunks (the Rust package's calls return promises). */
async function measureAsync(pass, chunks, totalBytes, runs) {
  await pass(chunks.slice(0, 200))
  let best = 0
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now()
    const n = await pass(chunks)
    if (n === 0) throw new Error('encoded nothing')
    best = Math.max(best, totalBytes / 1e6 / ((performance.now() - t0) / 1000))
  }
  return best
}

/**
 * The Rust package three ways: one encode() at a time, encodeBatch (its thread pool, on every
 * core) and many encode() calls in flight (libuv's pool). It always computes character offsets.
 */
async function benchRust(json, chunks, totalBytes) {
  const { Tokenizer } = await import('tokenizers')
  const tok = Tokenizer.fromString(JSON.stringify(json))
  const opts = { addSpecialTokens: true }
  const sequential = async (cs) => {
    let n = 0
    for (const c of cs) n += (await tok.encode(c, null, opts)).getLength()
    return n
  }
  const inSlices = (size, f) => async (cs) => {
    let n = 0
    for (let i = 0; i < cs.length; i += size) n += await f(cs.slice(i, i + size))
    return n
  }
  const batch = inSlices(4096, async (cs) =>
    (await tok.encodeBatch(cs, opts)).reduce((n, e) => n + e.getLength(), 0),
  )
  const concurrent = inSlices(256, async (cs) =>
    (await Promise.all(cs.map((c) => tok.encode(c, null, opts)))).reduce((n, e) => n + e.getLength(), 0),
  )
  const modes = {
    sequential: await measureAsync(sequential, chunks, totalBytes, 1),
    encodeBatch: await measureAsync(batch, chunks, totalBytes, 2),
    concurrent: await measureAsync(concurrent, chunks, totalBytes, 2),
  }
  const [bestMode, best] = Object.entries(modes).sort((a, b) => b[1] - a[1])[0]
  return { sequential: modes.sequential, best, bestMode }
}

/**
 * Returns `{ name, mb_per_s }` rows (kiln, one thread). With `compare`, each row also has the Rust
 * package's `rust_mb_per_s` (at its best, `rust_mode`), `rust_sequential_mb_per_s` and `ratio`.
 */
export async function benchTokenizer({ compare = false } = {}) {
  const dist = process.env.KILN_DIST
    ? pathToFileURL(`${process.env.KILN_DIST}/`).href
    : new URL('../dist/', import.meta.url).href
  const { Tokenizer } = await import(`${dist}core/tokenizer/index.js`)
  const text = makeCorpus(CORPUS_BYTES, 1)
  const train = makeCorpus(600 * 1024, 2)
  // Encode paragraph by paragraph (a few hundred bytes to a few KB each), not one 10 MB string.
  const chunks = text.split(/(?<=\n\n)/)
  const totalBytes = Buffer.byteLength(text, 'utf8')
  const specs = [
    ['wordpiece-bert (BertNormalizer, BertPreTokenizer)', buildWordPieceTokenizer(train)],
    ['bpe-llama3 (regex split + byte-level)', buildByteLevelTokenizer(train, 'llama3')],
    ['bpe-gpt2 (byte-level regex)', buildByteLevelTokenizer(train, 'gpt2')],
    ['bpe-sentencepiece (byte fallback, no pre-tokenizer)', buildSentencePieceTokenizer(train)],
    ['unigram-xlmr (Precompiled, Metaspace)', buildUnigramTokenizer(train)],
  ]
  const rows = []
  for (const [name, json] of specs) {
    const tok = Tokenizer.fromJSON(json, {})
    const row = {
      name: `tokenizer/${name}`,
      mb_per_s: round(measure((s) => tok.encode(s), chunks, totalBytes)),
    }
    if (compare) {
      const rust = await benchRust(json, chunks, totalBytes)
      row.rust_mb_per_s = round(rust.best)
      row.rust_mode = rust.bestMode
      row.rust_sequential_mb_per_s = round(rust.sequential)
      row.ratio = round(row.mb_per_s / rust.best)
    }
    rows.push(row)
  }
  // Cold: a fresh tokenizer per pass, so every word is a cache miss the first time it appears.
  const cold = []
  for (let r = 0; r < 3; r++) {
    const tok = Tokenizer.fromJSON(specs[1][1], {})
    const t0 = performance.now()
    for (const c of chunks) tok.encode(c)
    cold.push(totalBytes / 1e6 / ((performance.now() - t0) / 1000))
  }
  rows.push({ name: `tokenizer/${specs[1][0]}, cold cache`, mb_per_s: round(median(cold)) })
  return rows
}

function round(x) {
  return Math.round(x * 100) / 100
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const compare = !process.argv.includes('--no-compare')
  const rows = await benchTokenizer({ compare })
  console.log(
    `${(CORPUS_BYTES / 1e6).toFixed(1)} MB of text; kiln on one thread, tokenizers on every core at its best`,
  )
  console.log(
    '| tokenizer | kiln MB/s | tokenizers MB/s (best mode) | tokenizers 1-at-a-time MB/s | kiln ÷ tokenizers |',
  )
  console.log('| --- | --- | --- | --- | --- |')
  for (const r of rows) {
    const rust = r.rust_mb_per_s === undefined ? '' : `${r.rust_mb_per_s.toFixed(2)} (${r.rust_mode})`
    const seq = r.rust_sequential_mb_per_s?.toFixed(2) ?? ''
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`
    console.log(
      `| ${r.name.replace('tokenizer/', '')} | ${r.mb_per_s.toFixed(2)} | ${rust} | ${seq} | ${ratio} |`,
    )
  }
}
