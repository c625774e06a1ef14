// GPT-2 config.json (GPT2Config): the n_* names or their generic aliases, LayerNorm, GELU, learned
// positions and the always-tied head.
import type { ModelConfig } from '../config.js'
import { activation, type Fields, tokens } from '../config-fields.js'

const DEFAULTS = { maxPositions: 1024, eps: 1e-5, act: 'gelu_new' }

export function parseGpt2Config(f: Fields): ModelConfig {
  const d = DEFAULTS
  // GPT2Config's attribute_map lets the generic names stand in for the n_* ones.
  const pick = (own: string, generic: string) => (f.has(own) || !f.has(generic) ? own : generic)
  const hiddenSize = f.positiveInt(pick('n_embd', 'hidden_size'))
  const numHeads = f.positiveInt(pick('n_head', 'num_attention_heads'))
  if (hiddenSize % numHeads !== 0) f.fail(`"n_embd" ${hiddenSize} is not a multiple of "n_head" ${numHeads}`)
  if (f.has('scale_attn_weights') && !f.boolean('scale_attn_weights')) {
    f.fail('"scale_attn_weights": false is not supported')
  }
  if (f.has('scale_attn_by_inverse_layer_idx') && f.boolean('scale_attn_by_inverse_layer_idx')) {
    f.fail('"scale_attn_by_inverse_layer_idx": true is not supported')
  }
  return {
    architecture: 'gpt2',
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: f.positiveInt('n_inner', 4 * hiddenSize),
    numLayers: f.positiveInt(pick('n_layer', 'num_hidden_layers')),
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: f.positiveInt(pick('n_positions', 'max_position_embeddings'), d.maxPositions),
    norm: { kind: 'layer', eps: f.positiveNumber('layer_norm_epsilon', d.eps) },
    activation: activation(f, 'activation_function', d.act),
    // GPT2LMHeadModel always ties its head to the token embedding.
    tieWordEmbeddings: true,
    attentionBias: true,
    mlpBias: true,
    ...tokens(f),
    raw: f.obj,
  }
}
