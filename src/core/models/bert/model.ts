// BERT, RoBERTa and XLM-RoBERTa (modeling_bert.py, modeling_roberta.py): embeddings (word + token
// type + absolute position, LayerNorm), L post-norm encoder layers, then what the caller asks
// for on the rows it selects: the hidden state, the pooler (dense → tanh on [CLS]), or the head's
// logits. RoBERTa's differences are its names and heads; its shifted positions are config data.
import { ConfigError, FormatError } from '../../errors.js'
import type { GraphBuilder, TensorId } from '../../runtime/graph-builder.js'
import type { EncoderConfig } from '../config.js'
import type { WeightSet } from '../weights.js'
import { activate, basePrefix, type EncoderNames, encoderBody, layerNorm, linear } from './blocks.js'

/** What an encoder graph returns for its selected rows (R): the hidden state (R, C), the pooler (R, C), the head's logits (R, labels or V). */
export type EncoderOutput = 'hidden' | 'pooler' | 'logits'

function bertNames(p: string): EncoderNames {
  return {
    word: `${p}embeddings.word_embeddings.weight`,
    position: `${p}embeddings.position_embeddings.weight`,
    tokenType: `${p}embeddings.token_type_embeddings.weight`,
    embedNorm: `${p}embeddings.LayerNorm`,
    layer: (l) => {
      const b = `${p}encoder.layer.${l}`
      return {
        query: `${b}.attention.self.query`,
        key: `${b}.attention.self.key`,
        value: `${b}.attention.self.value`,
        attnOut: `${b}.attention.output.dense`,
        attnNorm: `${b}.attention.output.LayerNorm`,
        up: `${b}.intermediate.dense`,
        down: `${b}.output.dense`,
        outNorm: `${b}.output.LayerNorm`,
      }
    },
  }
}

export function buildBert(
  cfg: EncoderConfig,
  g: GraphBuilder,
  w: WeightSet,
  output: EncoderOutput,
): TensorId {
  const isBert = cfg.modelType === 'bert'
  const p = basePrefix(w, [isBert ? 'bert.' : 'roberta.', ''], (q) => `${q}embeddings.word_embeddings.weight`)
  const names = bertNames(p)
  if (!w.has(names.tokenType!)) names.tokenType = undefined
  const { hidden, wordEmbedding } = encoderBody(cfg, g, w, names)
  const x = g.selectOutRows('out_rows', hidden) // (R, C)
  const C = cfg.hiddenSize
  if (output === 'hidden') return x
  if (output === 'pooler') {
    if (!w.has(`${p}pooler.dense.weight`))
      throw new FormatError(
        `this ${cfg.architecture ?? cfg.modelType} checkpoint has no pooler (${p}pooler.dense)`,
      )
    return g.tanh('pooler', linear(g, w, `${p}pooler.dense`, x, C, C))
  }
  const labels = cfg.labels.length
  switch (cfg.head) {
    case 'sequence-classification':
      if (isBert) {
        // BertForSequenceClassification: pooler (dense → tanh on [CLS]) → classifier
        const pooled = g.tanh('pooler', linear(g, w, `${p}pooler.dense`, x, C, C))
        return linear(g, w, 'classifier', pooled, C, labels)
      }
      // RobertaClassificationHead on <s>: dense → tanh → out_proj
      return linear(
        g,
        w,
        'classifier.out_proj',
        g.tanh('classifier.act', linear(g, w, 'classifier.dense', x, C, C)),
        C,
        labels,
      )
    case 'token-classification':
      return linear(g, w, 'classifier', x, C, labels)
    case 'masked-lm':
      return isBert
        ? maskedLmHead(cfg, g, w, x, wordEmbedding, 'cls.predictions', {
            dense: 'cls.predictions.transform.dense',
            norm: 'cls.predictions.transform.LayerNorm',
            act: cfg.activation,
          })
        : maskedLmHead(cfg, g, w, x, wordEmbedding, 'lm_head', {
            dense: 'lm_head.dense',
            norm: 'lm_head.layer_norm',
            act: 'gelu', // RobertaLMHead always uses exact GELU
          })
    case 'base':
      throw new ConfigError(
        `${cfg.architecture ?? cfg.modelType} has no task head: it gives hidden states and embeddings only`,
      )
  }
}

/**
 * A masked-LM head: transform (dense → act → LayerNorm), then the decoder — the word embedding
 * when tied, else `<prefix>.decoder.weight` — plus the output bias (`<prefix>.bias`, or the
 * decoder's own). (R, C) → (R, V)
 */
export function maskedLmHead(
  cfg: EncoderConfig,
  g: GraphBuilder,
  w: WeightSet,
  x: TensorId,
  wordEmbedding: TensorId,
  prefix: string,
  transform: { dense: string; norm: string; act: EncoderConfig['activation'] },
  decoderName = `${prefix}.decoder`,
): TensorId {
  const { hiddenSize: C, vocabSize: V } = cfg
  const h = activate(g, `${transform.dense}.act`, linear(g, w, transform.dense, x, C, C), transform.act)
  const normed = layerNorm(g, w, transform.norm, h, C, cfg.layerNormEps)
  const untied = !cfg.tieWordEmbeddings && w.has(`${decoderName}.weight`)
  const decoder = untied ? w.matrix(`${decoderName}.weight`, [V, C]) : wordEmbedding
  const biasName = w.has(`${prefix}.bias`) ? `${prefix}.bias` : `${decoderName}.bias`
  return g.matmul('logits', normed, decoder, w.vector(biasName, V))
}
