// Bad GGUF metadata: each problem is one FormatError naming the file and the key (an architecture
// kiln cannot run is an UnsupportedArchitectureError), never a crash or a TypeError.
import { describe, expect, it } from 'vitest'
import { FormatError, KilnError, UnsupportedArchitectureError } from '../../../src/core/errors.js'
import { type GgufValue, gguf, openGguf, writeGguf } from '../../../src/core/formats/gguf.js'
import { ggufModelInfo } from '../../../src/core/models/gguf-model-info.js'
import { metadataGguf, modelGguf, tmpPath } from '../../helpers/gguf-exports.js'

type Edit = (m: Map<string, GgufValue>) => void

/** An exported golden model's metadata, edited, in a GGUF of its own (with the same tensors if asked). */
function edited(
  fixture: string,
  edit: Edit,
  tensors: { name: string; shape: number[]; data: Float32Array }[] = [],
) {
  const m = new Map(modelGguf(fixture).metadata)
  edit(m)
  if (tensors.length === 0) return metadataGguf(`${fixture}-bad`, [...m])
  const out = tmpPath(`${fixture}-bad.gguf`)
  writeGguf(out, { metadata: [...m], tensors: tensors.map((t) => ({ ...t, type: 'F32' as const })) })
  return openGguf(out)
}

/** Runs ggufModelInfo and returns the error it throws. */
function errorOf(
  fixture: string,
  edit: Edit,
  tensors?: { name: string; shape: number[]; data: Float32Array }[],
) {
  const file = edited(fixture, edit, tensors)
  try {
    ggufModelInfo(file)
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError)
    const message = (e as Error).message
    expect(message.startsWith(`${file.path}: `)).toBe(true)
    expect(message).not.toContain('\n')
    return e as KilnError
  }
  throw new Error('ggufModelInfo did not throw')
}

const set =
  (key: string, v: GgufValue): Edit =>
  (m) =>
    void m.set(key, v)
const drop =
  (key: string): Edit =>
  (m) =>
    void m.delete(key)

describe('bad GGUF metadata', () => {
  const cases: [string, string, Edit, RegExp][] = [
    [
      'llama-tiny',
      'missing architecture',
      drop('general.architecture'),
      /"general\.architecture" is missing/,
    ],
    [
      'llama-tiny',
      'missing embedding length',
      drop('llama.embedding_length'),
      /"llama\.embedding_length" is missing/,
    ],
    [
      'llama-tiny',
      'block count as a string',
      set('llama.block_count', gguf.string('2')),
      /"llama\.block_count" must be a non-negative integer, got string "2"/,
    ],
    [
      'llama-tiny',
      'missing rms epsilon',
      drop('llama.attention.layer_norm_rms_epsilon'),
      /"llama\.attention\.layer_norm_rms_epsilon" is missing/,
    ],
    [
      'gpt2-tiny',
      'missing layer norm epsilon',
      drop('gpt2.attention.layer_norm_epsilon'),
      /"gpt2\.attention\.layer_norm_epsilon" is missing/,
    ],
    [
      'llama-tiny',
      'kv heads not dividing heads',
      set('llama.attention.head_count_kv', gguf.u32(3)),
      /"llama\.attention\.head_count_kv" 3 does not divide/,
    ],
    [
      'llama-tiny',
      'partial rotary',
      set('llama.rope.dimension_count', gguf.u32(8)),
      /"llama\.rope\.dimension_count" is 8, .*partial rotary/,
    ],
    [
      'llama-tiny',
      'yarn rope scaling',
      set('llama.rope.scaling.type', gguf.string('yarn')),
      /"llama\.rope\.scaling\.type" is "yarn"/,
    ],
    [
      'llama-tiny',
      'vocab size disagreeing with the tokens',
      set('llama.vocab_size', gguf.u32(600)),
      /"llama\.vocab_size" is 600, but "tokenizer\.ggml\.tokens" has 599/,
    ],
    [
      'llama-tiny',
      'unknown tokenizer model',
      set('tokenizer.ggml.model', gguf.string('bert')),
      /"tokenizer\.ggml\.model" is "bert", which kiln cannot run/,
    ],
    [
      'llama-tiny',
      'missing tokenizer model',
      drop('tokenizer.ggml.model'),
      /"tokenizer\.ggml\.model" is missing/,
    ],
    ['llama-tiny', 'missing tokens', drop('tokenizer.ggml.tokens'), /"tokenizer\.ggml\.tokens" is missing/],
    [
      'llama-tiny',
      'missing scores (SentencePiece)',
      drop('tokenizer.ggml.scores'),
      /"tokenizer\.ggml\.scores" is missing/,
    ],
    [
      'llama-tiny',
      'scores of the wrong length',
      set('tokenizer.ggml.scores', gguf.array('f32', new Float32Array(3))),
      /"tokenizer\.ggml\.scores" has 3 items, expected 599/,
    ],
    [
      'llama-tiny',
      'token types as strings',
      set('tokenizer.ggml.token_type', gguf.array('string', ['1'])),
      /"tokenizer\.ggml\.token_type" must be an array of integers/,
    ],
    [
      'llama-tiny',
      'bos id out of range',
      set('tokenizer.ggml.bos_token_id', gguf.u32(5000)),
      /"tokenizer\.ggml\.bos_token_id" is token id 5000, but the vocabulary has 599 tokens/,
    ],
    [
      'gpt2-tiny',
      'missing merges (byte-level BPE)',
      drop('tokenizer.ggml.merges'),
      /"tokenizer\.ggml\.merges" is missing/,
    ],
    [
      'gpt2-tiny',
      'a merge of unknown tokens',
      set('tokenizer.ggml.merges', gguf.array('string', ['Ġ t', 'zz yy'])),
      /"tokenizer\.ggml\.merges" is not valid: merge "zz yy" uses "zz", which is not in the vocab/,
    ],
    [
      'gpt2-tiny',
      'a merge without a space',
      set('tokenizer.ggml.merges', gguf.array('string', ['Ġt'])),
      /"tokenizer\.ggml\.merges" is not valid: BPE merge #0 is malformed: "Ġt"/,
    ],
    [
      'qwen2-tiny',
      'unknown pre-tokenizer',
      set('tokenizer.ggml.pre', gguf.string('tekken')),
      /"tokenizer\.ggml\.pre" is "tekken", a pre-tokenizer kiln does not know \(supported: llama-bpe, /,
    ],
    [
      'qwen2-tiny',
      'add_bos_token without a bos id',
      set('tokenizer.ggml.add_bos_token', gguf.bool(true)),
      /"tokenizer\.ggml\.add_bos_token" is true, but there is no "tokenizer\.ggml\.bos_token_id"/,
    ],
    [
      'llama-tiny',
      'a chat template that does not parse',
      set('tokenizer.chat_template', gguf.string('{% for %}')),
      /"tokenizer\.chat_template" is not valid: chat template does not parse/,
    ],
    [
      'llama-tiny',
      'sampling top_p out of range',
      set('general.sampling.top_p', gguf.f32(2)),
      /"general\.sampling\.top_p" must be a number in \(0, 1\], got 2/,
    ],
  ]
  for (const [fixture, what, edit, message] of cases) {
    it(`${what} (${fixture})`, () => {
      const e = errorOf(fixture, edit)
      expect(e).toBeInstanceOf(FormatError)
      expect(e.code).toBe('E_FORMAT')
      expect(e.message).toMatch(message)
    })
  }

  it('an architecture kiln cannot run', () => {
    const e = errorOf('llama-tiny', set('general.architecture', gguf.string('phi3')))
    expect(e).toBeInstanceOf(UnsupportedArchitectureError)
    expect(e.message).toMatch(
      /"general\.architecture" is "phi3", which kiln cannot run \(supported: llama, qwen2, gpt2\)/,
    )
  })

  it('a mixture-of-experts llama (Mixtral)', () => {
    const e = errorOf('llama-tiny', set('llama.expert_count', gguf.u32(8)))
    expect(e).toBeInstanceOf(UnsupportedArchitectureError)
    expect(e.message).toMatch(/"llama\.expert_count" is 8: mixture-of-experts models are not supported/)
  })

  it('a rope_freqs tensor of the wrong size', () => {
    const e = errorOf('llama3-tiny', () => {}, [
      { name: 'rope_freqs.weight', shape: [3], data: new Float32Array(3).fill(1) },
    ])
    expect(e).toBeInstanceOf(FormatError)
    expect(e.message).toMatch(/"rope_freqs\.weight" must be F32 \[4\], got F32 \[3\]/)
  })

  it('rope_freqs divisors that follow no llama3 scaling', () => {
    const e = errorOf('llama3-tiny', () => {}, [
      { name: 'rope_freqs.weight', shape: [4], data: Float32Array.from([8, 1, 1, 1]) },
    ])
    expect(e).toBeInstanceOf(FormatError)
    expect(e.message).toMatch(/"rope_freqs\.weight" divisors are not 1 for high frequencies/)
  })
})
