// DistilBERT (modeling_distilbert.py): BERT's encoder under its own names (q_lin … out_lin,
// sa_layer_norm, ffn.lin1/lin2, output_layer_norm), no token types and no pooler; its heads:
// pre_classifier → ReLU → classifier on [CLS], a token classifier, and vocab_transform → act →
// vocab_layer_norm → vocab_projector for masked LM.
import { ConfigError, FormatError } from '../../errors.js'
import type { GraphBuilder, TensorId } from '../../runtime/graph-builder.js'
import { basePrefix, type EncoderNames, encoderBody, linear } from '../bert/blocks.js'
import { type EncoderOutput, maskedLmHead } from '../bert/model.js'
import type { EncoderConfig } from '../config.js'
import type { WeightSet } from '../weights.js'

function distilBertNames(p: string): EncoderNames {
  return {
    word: `${p}embeddings.word_embeddings.weight`,
    position: `${p}embeddings.position_embeddings.weight`,
    embedNorm: `${p}embeddings.LayerNorm`,
    layer: (l) => {
      const b = `${p}transformer.layer.${l}`
      return {
        query: `${b}.attention.q_lin`,
        key: `${b}.attention.k_lin`,
        value: `${b}.attention.v_lin`,
        attnOut: `${b}.attention.out_lin`,
        attnNorm: `${b}.sa_layer_norm`,
        up: `${b}.ffn.lin1`,
        down: `${b}.ffn.lin2`,
        outNorm: `${b}.output_layer_norm`,
      }
    },
  }
}

export function buildDistilBert(
  cfg: EncoderConfig,
  g: GraphBuilder,
  w: WeightSet,
  output: EncoderOutput,
): TensorId {
  const p = basePrefix(w, ['distilbert.', ''], (q) => `${q}embeddings.word_embeddings.weight`)
  const { hidden, wordEmbedding } = encoderBody(cfg, g, w, distilBertNames(p))
  const x = g.selectOutRows('out_rows', hidden) // (R, C)
  const C = cfg.hiddenSize
  if (output === 'hidden') return x
  if (output === 'pooler') throw new FormatError('DistilBERT has no pooler; use the [CLS] hidden state')
  const labels = cfg.labels.length
  switch (cfg.head) {
    case 'sequence-classification':
      return linear(
        g,
        w,
        'classifier',
        g.relu('pre_classifier.act', linear(g, w, 'pre_classifier', x, C, C)),
        C,
        labels,
      )
    case 'token-classification':
      return linear(g, w, 'classifier', x, C, labels)
    case 'masked-lm':
      return maskedLmHead(
        cfg,
        g,
        w,
        x,
        wordEmbedding,
        'vocab_projector',
        { dense: 'vocab_transform', norm: 'vocab_layer_norm', act: cfg.activation },
        'vocab_projector',
      )
    case 'base':
      throw new ConfigError(
        `${cfg.architecture ?? cfg.modelType} has no task head: it gives hidden states and embeddings only`,
      )
  }
}
