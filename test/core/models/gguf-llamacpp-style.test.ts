// A GGUF written the way llama.cpp's converter writes a SentencePiece llama (scores from the
// sentencepiece model, not merge ranks; no merges; <unk> as an unknown token; add_bos_token true;
// general.name), built by hand here, loads too: config, tokenizer and chat template.
import { describe, expect, it } from 'vitest'
import {
  GGUF_TOKEN_TYPE,
  type GgufFile,
  type GgufValue,
  gguf,
  openGguf,
  writeGguf,
} from '../../../src/core/formats/gguf.js'
import { ropeInvFreq } from '../../../src/core/models/config.js'
import { ggufModelInfo } from '../../../src/core/models/gguf-model-info.js'
import { tmpPath } from '../../helpers/gguf-exports.js'
import { nlc, openLlama } from '../../helpers/gguf-peers.js'

/** Multi-character pieces with sentencepiece-style scores (higher merges first). */
const PIECES: [string, number][] = [
  ['▁t', -1],
  ['he', -2],
  ['▁the', -3],
  ['ll', -4],
  ['▁he', -5],
  ['llo', -6],
  ['▁w', -7],
  ['or', -8],
  ['▁wor', -9],
  ['ld', -10],
  ['▁world', -11],
  ['[INST]', 0],
]
/** Single characters score below every piece, as in a trained sentencepiece model. */
const CHARS = ['▁', 't', 'h', 'e', 'l', 'o', 'w', 'r', 'd', 'a', 'c', 'x', '!', '[', ']']

const C = 8 // hidden size
const BYTES = 256

function handWritten(extra: [string, GgufValue][] = []): GgufFile {
  const tokens = ['<unk>', '<s>', '</s>']
  const types: number[] = [GGUF_TOKEN_TYPE.unknown, GGUF_TOKEN_TYPE.control, GGUF_TOKEN_TYPE.control]
  const scores = [0, 0, 0]
  for (let b = 0; b < BYTES; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
    types.push(GGUF_TOKEN_TYPE.byte)
    scores.push(0)
  }
  for (const [piece, score] of PIECES) {
    tokens.push(piece)
    types.push(piece === '[INST]' ? GGUF_TOKEN_TYPE.userDefined : GGUF_TOKEN_TYPE.normal)
    scores.push(score)
  }
  CHARS.forEach((ch, i) => {
    tokens.push(ch)
    types.push(GGUF_TOKEN_TYPE.normal)
    scores.push(-100 - i)
  })
  const V = tokens.length
  const zeros = (n: number) => new Float32Array(n)
  const out = tmpPath('llamacpp-style.gguf')
  writeGguf(out, {
    metadata: [
      ['general.architecture', gguf.string('llama')],
      ['general.name', gguf.string('Hand Llama')],
      ['llama.context_length', gguf.u32(4096)],
      ['llama.embedding_length', gguf.u32(C)],
      ['llama.block_count', gguf.u32(1)],
      ['llama.feed_forward_length', gguf.u32(16)],
      ['llama.rope.dimension_count', gguf.u32(4)],
      ['llama.attention.head_count', gguf.u32(2)],
      ['llama.attention.head_count_kv', gguf.u32(1)],
      ['llama.attention.layer_norm_rms_epsilon', gguf.f32(1e-5)],
      ['llama.rope.freq_base', gguf.f32(10000)],
      ['general.file_type', gguf.u32(0)],
      ['tokenizer.ggml.model', gguf.string('llama')],
      ['tokenizer.ggml.tokens', gguf.array('string', tokens)],
      ['tokenizer.ggml.scores', gguf.array('f32', Float32Array.from(scores))],
      ['tokenizer.ggml.token_type', gguf.array('i32', Int32Array.from(types))],
      ['tokenizer.ggml.bos_token_id', gguf.u32(1)],
      ['tokenizer.ggml.eos_token_id', gguf.u32(2)],
      ['tokenizer.ggml.unknown_token_id', gguf.u32(0)],
      ['tokenizer.ggml.add_bos_token', gguf.bool(true)],
      ['tokenizer.ggml.add_eos_token', gguf.bool(false)],
      [
        'tokenizer.chat_template',
        gguf.string(
          "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}",
        ),
      ],
      ...extra,
    ],
    tensors: [
      { name: 'token_embd.weight', type: 'F32', shape: [V, C], data: zeros(V * C) },
      { name: 'output_norm.weight', type: 'F32', shape: [C], data: zeros(C) },
      { name: 'output.weight', type: 'F32', shape: [V, C], data: zeros(V * C) },
    ],
  })
  return openGguf(out)
}

const file = handWritten()
const info = ggufModelInfo(file)
const tok = info.tokenizer
const id = (t: string) => {
  const v = tok.tokenToId(t)
  if (v === undefined) throw new Error(`no token ${t}`)
  return v
}

describe('a llama.cpp-style SentencePiece GGUF', () => {
  it('gives the config from the llama.* keys and the tensors', () => {
    const c = info.config
    expect(c).toMatchObject({
      architecture: 'llama',
      vocabSize: 3 + BYTES + PIECES.length + CHARS.length,
      hiddenSize: C,
      intermediateSize: 16,
      numLayers: 1,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 4,
      maxPositions: 4096,
      norm: { kind: 'rms', eps: Math.fround(1e-5) },
      activation: 'silu',
      rope: { theta: 10000, type: 'default' },
      tieWordEmbeddings: false,
      attentionBias: false,
      mlpBias: false,
      bosTokenId: 1,
      eosTokenIds: [2],
      padTokenId: undefined,
    })
    expect(c.raw['general.name']).toBe('Hand Llama')
    expect(ropeInvFreq(c.rope!, c.headDim)).toEqual(Float32Array.from([1, Math.fround(0.01)]))
    expect(info.generation).toEqual({ eosTokenIds: [2], bosTokenId: 1, padTokenId: undefined })
  })

  it('merges the highest-scoring pair first, leftmost on ties', () => {
    // ▁t (−1), then the two "he" (−2, left one first), then ▁the (−3) from ▁t+he, ll, ▁he, llo, …
    expect(tok.encode('the hello world', { addSpecialTokens: false })).toEqual([
      id('▁the'),
      id('▁he'),
      id('llo'),
      id('▁world'),
    ])
    // With BOS (add_bos_token) in front.
    expect(tok.encode('the hello world')).toEqual([1, id('▁the'), id('▁he'), id('llo'), id('▁world')])
  })

  it('spells characters outside the vocabulary as <0xNN> bytes', () => {
    // "é" = C3 A9; byte tokens start at id 3.
    expect(tok.encode('té', { addSpecialTokens: false })).toEqual([id('▁t'), 3 + 0xc3, 3 + 0xa9])
    expect(tok.decode([id('▁t'), 3 + 0xc3, 3 + 0xa9])).toBe('té')
  })

  it('matches control, unknown and user-defined tokens in the text, with a space prefix after them', () => {
    expect(tok.encode('<s>the</s>', { addSpecialTokens: false })).toEqual([1, id('▁the'), 2])
    expect(tok.encode('[INST]the', { addSpecialTokens: false })).toEqual([id('[INST]'), id('▁the')])
    expect(tok.encode('<unk>', { addSpecialTokens: false })).toEqual([0])
    expect([...tok.specialIds].sort((a, b) => a - b)).toEqual([0, 1, 2])
  })

  it('decodes with the ▁ prefix removed, keeping or skipping specials', () => {
    const ids = tok.encode('the hello world!')
    expect(tok.decode(ids)).toBe('<s> the hello world!')
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('the hello world!')
  })

  it('renders the chat template with the file bos and eos tokens', () => {
    expect(tok.bosToken).toBe('<s>')
    expect(tok.eosToken).toBe('</s>')
    const prompt = tok.applyChatTemplate(
      [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'world' },
      ],
      { addGenerationPrompt: true },
    )
    expect(prompt).toBe('<s>[INST] hello [/INST] world</s>')
  })
})

describe('tokenizer.ggml.add_space_prefix false', () => {
  const plain = ggufModelInfo(handWritten([['tokenizer.ggml.add_space_prefix', gguf.bool(false)]])).tokenizer

  it('adds no ▁ in front and keeps the first space when decoding', () => {
    expect(plain.encode('the hello', { addSpecialTokens: false })).toEqual([
      id('t'),
      id('he'),
      id('▁he'),
      id('llo'),
    ])
    expect(plain.decode([id('▁the'), id('▁w')])).toBe(' the w')
  })
})

const SPACE_PREFIX = [true, false]

describe.skipIf(!nlc)('llama.cpp (node-llama-cpp) tokenizes the hand-written file the same', () => {
  it.each(SPACE_PREFIX)('agrees on every text (add_space_prefix %s)', async (spacePrefix) => {
    const judged = handWritten([['tokenizer.ggml.add_space_prefix', gguf.bool(spacePrefix)]])
    const tok = ggufModelInfo(judged).tokenizer
    const llama = await openLlama()
    try {
      const model = (await (llama as unknown as { loadModel(o: object): Promise<unknown> }).loadModel({
        modelPath: judged.path,
        vocabOnly: true,
      })) as { tokenize(text: string, special: boolean): number[]; dispose(): Promise<void> }
      try {
        for (const text of [
          'the hello world',
          'the  hello\tworld! té',
          ' leading',
          'hellothe worldwide cat',
          '<s>the</s>[INST]x<unk> wow',
          '日本 🤖',
          '',
        ]) {
          expect(tok.encode(text, { addSpecialTokens: false }), JSON.stringify(text)).toEqual([
            ...model.tokenize(text, true),
          ])
        }
      } finally {
        await model.dispose()
      }
    } finally {
      await llama.dispose()
    }
  })
})
