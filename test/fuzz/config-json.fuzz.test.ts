// Fuzz target config-json: config.json (every family's parser, through the registry) and
// generation_config.json over mutated fixture configs and random objects, then what a loader computes
// first from a decoder's config (the rotary frequencies, sized by the head size it declares).
// Pure JavaScript over parsed objects: in-process.
import fc from 'fast-check'
import { parseGenerationConfig } from '../../src/core/models/generation-config.js'
import { parseAnyConfig } from '../../src/core/models/registry.js'
import { ropeInvFreq } from '../../src/core/models/rope.js'
import { caseText, fuzzTarget, jsonCodec, kiln } from './harness.js'
import { EDGE_NUMBERS, type Json, mutatedJson, smallJson } from './mutate.js'
import { fixtureJson } from './seeds.js'

interface Case {
  config: Json
  generation?: Json
}

const configs = fixtureJson('config.json').map(([, j]) => j)
// The families kiln knows whose fixtures have no config of their own: the same shapes, renamed.
const bert = configs.find((c) => (c as Record<string, Json>).model_type === 'bert') as Record<string, Json>
const llama = configs.find((c) => (c as Record<string, Json>).model_type === 'llama') as Record<string, Json>
configs.push(
  { ...bert, model_type: 'roberta', pad_token_id: 1 },
  { ...bert, model_type: 'xlm-roberta' },
  {
    model_type: 'distilbert',
    dim: 32,
    hidden_dim: 64,
    n_layers: 2,
    n_heads: 2,
    vocab_size: 100,
    max_position_embeddings: 64,
  },
  { ...llama, model_type: 'mistral', sliding_window: null },
  {
    ...llama,
    rope_parameters: undefined as unknown as Json,
    rope_theta: 500000,
    rope_scaling: {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 64,
    },
  },
)
const generations = fixtureJson('generation_config.json').map(([, j]) => j)
generations.push({
  temperature: 0.7,
  top_p: 0.9,
  top_k: 40,
  min_p: 0.05,
  repetition_penalty: 1.1,
  do_sample: true,
  max_new_tokens: 32,
  eos_token_id: [2, 3],
})

// A config.json of random fields a config could name, with values of every kind.
const FIELD_NAMES = [
  'model_type',
  'vocab_size',
  'hidden_size',
  'intermediate_size',
  'num_hidden_layers',
  'num_attention_heads',
  'num_key_value_heads',
  'head_dim',
  'max_position_embeddings',
  'rms_norm_eps',
  'layer_norm_eps',
  'hidden_act',
  'rope_theta',
  'rope_scaling',
  'rope_parameters',
  'tie_word_embeddings',
  'attention_bias',
  'mlp_bias',
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
  'sliding_window',
  'use_sliding_window',
  'n_embd',
  'n_layer',
  'n_head',
  'n_positions',
  'n_inner',
  'activation_function',
  'layer_norm_epsilon',
  'architectures',
  'id2label',
  'num_labels',
  'problem_type',
  'type_vocab_size',
  'dim',
  'hidden_dim',
  'n_layers',
  'n_heads',
  'partial_rotary_factor',
]
const randomConfig: fc.Arbitrary<Json> = fc.dictionary(
  fc.constantFrom(...FIELD_NAMES),
  fc.oneof(
    fc.constantFrom<Json>(
      'llama',
      'mistral',
      'qwen2',
      'gpt2',
      'bert',
      'roberta',
      'xlm-roberta',
      'distilbert',
      'silu',
      'gelu',
    ),
    fc.constantFrom(...EDGE_NUMBERS),
    fc.integer({ min: 1, max: 64 }),
    smallJson,
  ),
  { maxKeys: 24 },
)

const arbitrary: fc.Arbitrary<Case> = fc.record(
  {
    config: fc.oneof({ weight: 4, arbitrary: mutatedJson(configs) }, { weight: 1, arbitrary: randomConfig }),
    generation: fc.oneof(mutatedJson(generations), smallJson),
  },
  { requiredKeys: ['config'] },
)

fuzzTarget<Case>({
  target: 'config-json',
  arbitrary,
  caseMs: 2_000,
  ciMs: 6_000,
  corpus: jsonCodec<Case>(),
  describeCase: (c) => caseText(c, 2_000),
  run({ config, generation }) {
    const parsed = kiln(() => parseAnyConfig(config))
    if (!parsed.ok) return 'refused'
    if (parsed.value.kind !== 'decoder') return 'encoder config'
    const cfg = parsed.value.config
    kiln(() => parseGenerationConfig(generation ?? {}, cfg))
    if (cfg.rope) kiln(() => ropeInvFreq(cfg.rope!, cfg.headDim))
    return 'decoder config'
  },
})
