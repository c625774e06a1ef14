#!/usr/bin/env node
// Writes the embedded default model (models/default): a byte-level BPE tokenizer trained here on a
// short built-in text, and a small llama whose weights make it a bigram model of that text: one-hot
// token embeddings pass through the residual stream (the layers add seeded noise), and the head holds
// log P(next | current). Deterministic: the same bytes on every run, so the committed files can be
// checked against this script (test/core/runtime/default-model.test.ts).
// Usage: node scripts/make-default-model.mjs [OUT_DIR]   (needs `npm run build` first)
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { writeSafetensors } = await import(path.join(root, 'dist/core/formats/safetensors.js'))
const { Rng } = await import(path.join(root, 'dist/core/runtime/rng.js'))
const { Tokenizer } = await import(path.join(root, 'dist/core/tokenizer/index.js'))

const out = path.resolve(process.argv[2] ?? path.join(root, 'models', 'default'))
mkdirSync(out, { recursive: true })

const CORPUS = `Once upon a time there was a small kiln at the edge of a quiet village. Every morning the
potter lit the fire, and every evening the pots came out hard and bright. The children of the village
liked to watch the flames, and they asked the potter how the clay became so strong. She told them that
heat changes everything it touches, slowly and then all at once. A model is like a pot: it is shaped
from data, fired with numbers, and then it speaks. The quick brown fox jumps over the lazy dog while
the river runs down to the sea. People write programs to read and write files, to talk to servers, and
to make machines learn. This is the story of a tool that runs language models on an ordinary computer.`

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

const SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu
const VOCAB = 512
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']

function trainBpe() {
  const b2u = bytesToUnicode()
  const vocab = new Map()
  for (let b = 0; b < 256; b++) vocab.set(b2u.get(b), vocab.size)
  const counts = new Map()
  for (const w of CORPUS.match(SPLIT)) {
    const sym = [...Buffer.from(w, 'utf8')].map((b) => b2u.get(b)).join('\u0000')
    counts.set(sym, (counts.get(sym) ?? 0) + 1)
  }
  let words = [...counts].map(([s, c]) => ({ syms: s.split('\u0000'), c }))
  const merges = []
  while (vocab.size < VOCAB - SPECIALS.length) {
    const pairs = new Map()
    for (const { syms, c } of words)
      for (let i = 0; i + 1 < syms.length; i++) {
        const k = `${syms[i]} ${syms[i + 1]}`
        pairs.set(k, (pairs.get(k) ?? 0) + c)
      }
    if (pairs.size === 0) break
    // Most frequent pair; ties broken by the pair's text so the result never depends on Map order.
    let best
    for (const [k, c] of pairs) if (!best || c > best[1] || (c === best[1] && k < best[0])) best = [k, c]
    const [a, b] = best[0].split(' ')
    merges.push([a, b])
    vocab.set(a + b, vocab.size)
    words = words.map(({ syms, c }) => {
      const next = []
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b)
          i++
        } else next.push(syms[i])
      }
      return { syms: next, c }
    })
  }
  return { vocab, merges }
}

const { vocab, merges } = trainBpe()
const added = SPECIALS.map((content) => {
  const id = vocab.size
  vocab.set(content, id)
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }
})
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }
const tokenizer = {
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
    vocab: Object.fromEntries(vocab),
    merges,
  },
}
const eos = vocab.get('<|endoftext|>')
const imEnd = vocab.get('<|im_end|>')
const chatTemplate =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// Hidden size = vocabulary, so each token's embedding can be its own one-hot direction.
const C = VOCAB
const L = 2
const NH = 4
const NKV = 2
const HS = 16
const F = 64
const config = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: VOCAB,
  hidden_size: C,
  intermediate_size: F,
  num_hidden_layers: L,
  num_attention_heads: NH,
  num_key_value_heads: NKV,
  head_dim: HS,
  hidden_act: 'silu',
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  attention_bias: false,
  bos_token_id: eos,
  eos_token_id: eos,
  torch_dtype: 'float32',
}

// Normal-ish noise from arithmetic only (Irwin–Hall: sum of 12 uniforms − 6), so the bytes do not
// depend on the platform's Math.log/Math.cos.
const rng = new Rng(20261127)
function randn(n, std) {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    let s = -6
    for (let k = 0; k < 12; k++) s += rng.uniform()
    a[i] = s * std
  }
  return a
}
const filled = (n, v) => new Float32Array(n).fill(v)

// Bigram statistics of the corpus in the tokenizer's own ids, add-α smoothed.
const tok = Tokenizer.fromJSON(tokenizer, {})
const ids = CORPUS.split('\n\n').flatMap((para) => [
  ...tok.encode(para.replace(/\n/g, ' '), { addSpecialTokens: false }),
  eos,
])
const counts = new Float64Array(VOCAB * VOCAB)
for (let i = 0; i + 1 < ids.length; i++) counts[ids[i] * VOCAB + ids[i + 1]]++
const head = new Float32Array(VOCAB * C) // (V, C): head[next, current] = log P(next | current)
for (let cur = 0; cur < VOCAB; cur++) {
  let total = 0
  for (let nxt = 0; nxt < VOCAB; nxt++) total += counts[cur * VOCAB + nxt] + 1e-4
  for (let nxt = 0; nxt < VOCAB; nxt++)
    head[nxt * C + cur] = Math.fround(Math.log((counts[cur * VOCAB + nxt] + 1e-4) / total))
}
const embed = new Float32Array(VOCAB * C)
for (let v = 0; v < VOCAB; v++) embed[v * C + v] = 1
// RMSNorm of a one-hot row gives sqrt(C) at its index; the final norm scales it back to 1.
const normScale = 1 / Math.sqrt(C)

const tensors = []
const add = (name, shape, data) => tensors.push({ name, dtype: 'F32', shape, data })
add('model.embed_tokens.weight', [VOCAB, C], embed)
for (let l = 0; l < L; l++) {
  const p = `model.layers.${l}`
  add(`${p}.input_layernorm.weight`, [C], filled(C, 1))
  add(`${p}.self_attn.q_proj.weight`, [NH * HS, C], randn(NH * HS * C, 0.2))
  add(`${p}.self_attn.k_proj.weight`, [NKV * HS, C], randn(NKV * HS * C, 0.2))
  add(`${p}.self_attn.v_proj.weight`, [NKV * HS, C], randn(NKV * HS * C, 0.2))
  add(`${p}.self_attn.o_proj.weight`, [C, NH * HS], randn(C * NH * HS, 1e-5))
  add(`${p}.post_attention_layernorm.weight`, [C], filled(C, 1))
  add(`${p}.mlp.gate_proj.weight`, [F, C], randn(F * C, 0.2))
  add(`${p}.mlp.up_proj.weight`, [F, C], randn(F * C, 0.2))
  add(`${p}.mlp.down_proj.weight`, [C, F], randn(C * F, 1e-5))
}
add('model.norm.weight', [C], filled(C, normScale))
add('lm_head.weight', [VOCAB, C], head)

const json = (o) => `${JSON.stringify(o, null, 2)}\n`
writeFileSync(path.join(out, 'config.json'), json(config))
writeFileSync(
  path.join(out, 'generation_config.json'),
  json({
    bos_token_id: eos,
    eos_token_id: [eos, imEnd],
    do_sample: true,
    temperature: 0.8,
    max_new_tokens: 48,
  }),
)
writeFileSync(path.join(out, 'tokenizer.json'), json(tokenizer))
writeFileSync(
  path.join(out, 'tokenizer_config.json'),
  json({
    bos_token: null,
    eos_token: '<|endoftext|>',
    model_max_length: 2048,
    tokenizer_class: 'PreTrainedTokenizerFast',
  }),
)
writeFileSync(path.join(out, 'chat_template.jinja'), chatTemplate)
writeSafetensors(path.join(out, 'model.safetensors'), tensors, {
  format: 'pt',
  generator: 'kiln scripts/make-default-model.mjs',
})
writeFileSync(
  path.join(out, 'README.md'),
  `# kiln default model

A small llama (${L} layers, hidden ${C}, ${NH} heads / ${NKV} kv heads) and a byte-level BPE tokenizer
of ${VOCAB} tokens trained on a paragraph of built-in text, made by \`node scripts/make-default-model.mjs\`.
Its weights are set, not trained: one-hot embeddings, layers that add small seeded noise, and a head
holding the text's bigram log-probabilities, so it babbles in the style of that paragraph. It exists
so \`kiln generate\` works on a fresh clone with no download. A trained model will replace it.
`,
)
console.log(`wrote ${out}`)
