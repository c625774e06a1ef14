// DistilBERT config.json (DistilBertConfig): its own field names (dim, n_layers, n_heads,
// hidden_dim, activation) or their generic aliases, no token types, LayerNorm eps fixed at 1e-12.

import { encoderActivation, encoderHead, encoderLabels } from '../bert/config.js'
import type { EncoderConfig } from '../config.js'
import type { Fields } from '../config-fields.js'

export function parseDistilBertConfig(f: Fields): EncoderConfig {
  // DistilBertConfig's attribute_map lets the generic names stand in for its own.
  const pick = (own: string, generic: string) => (f.has(own) || !f.has(generic) ? own : generic)
  const hiddenSize = f.positiveInt(pick('dim', 'hidden_size'), 768)
  const numHeads = f.positiveInt(pick('n_heads', 'num_attention_heads'), 12)
  if (hiddenSize % numHeads !== 0) f.fail(`"dim" ${hiddenSize} is not a multiple of "n_heads" ${numHeads}`)
  return {
    modelType: 'distilbert',
    ...encoderHead(f),
    vocabSize: f.positiveInt('vocab_size', 30522),
    hiddenSize,
    intermediateSize: f.positiveInt('hidden_dim', 4 * 768),
    numLayers: f.positiveInt(pick('n_layers', 'num_hidden_layers'), 6),
    numHeads,
    headDim: hiddenSize / numHeads,
    // Sinusoidal tables (sinusoidal_pos_embds) are written into the checkpoint too: read either way.
    maxPositions: f.positiveInt('max_position_embeddings', 512),
    positionOffset: 0,
    typeVocabSize: 0,
    layerNormEps: 1e-12,
    activation: encoderActivation(f, 'activation', 'gelu'),
    tieWordEmbeddings: f.boolean('tie_word_embeddings', true),
    padTokenId: f.tokenId('pad_token_id') ?? (f.has('pad_token_id') ? undefined : 0),
    ...encoderLabels(f),
    raw: f.obj,
  }
}
