// BERT, RoBERTa and XLM-RoBERTa config.json (BertConfig, RobertaConfig, XLMRobertaConfig): one
// shape with RoBERTa's differences as data (positions offset by padding_idx + 1, its defaults).
// The head comes from `architectures`; labels from id2label / num_labels; DistilBERT reads its own
// field names (distilbert/config.ts) into the same EncoderConfig.

import { quote, shown } from '../../util/shown.js'
import type { EncoderConfig, EncoderHead, EncoderType, ProblemType } from '../config.js'
import { type Fields, isObject } from '../config-fields.js'

const ENCODER_ACTIVATIONS: Record<string, EncoderConfig['activation']> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  relu: 'relu',
}

const PROBLEM_TYPES: readonly ProblemType[] = [
  'single_label_classification',
  'multi_label_classification',
  'regression',
]

/** transformers' class defaults where config.json leaves a field out. */
const DEFAULTS = {
  bert: { pad: 0, eps: 1e-12, types: 2 },
  roberta: { pad: 1, eps: 1e-12, types: 2 },
  'xlm-roberta': { pad: 1, eps: 1e-12, types: 2 },
} as const

export function encoderActivation(f: Fields, name: string, fallback: string): EncoderConfig['activation'] {
  const act = f.string(name, fallback)
  const mapped = ENCODER_ACTIVATIONS[act]
  if (!mapped)
    f.fail(
      `${quote(name)} ${quote(act)} is not supported (supported: ${Object.keys(ENCODER_ACTIVATIONS).join(', ')})`,
    )
  return mapped
}

/** The head named by `architectures[0]`: `…ForSequenceClassification` and so on; else the bare encoder. */
export function encoderHead(f: Fields): { head: EncoderHead; architecture?: string } {
  const archs = f.get('architectures')
  if (archs !== undefined && (!Array.isArray(archs) || archs.some((a) => typeof a !== 'string')))
    f.fail(`"architectures" must be a list of class names, got ${shown(archs)}`)
  const architecture = (archs as string[] | undefined)?.[0]
  if (!architecture) return { head: 'base' }
  if (architecture.endsWith('ForSequenceClassification'))
    return { head: 'sequence-classification', architecture }
  if (architecture.endsWith('ForTokenClassification')) return { head: 'token-classification', architecture }
  if (architecture.endsWith('ForMaskedLM')) return { head: 'masked-lm', architecture }
  // Other heads (question answering, multiple choice, pre-training) still carry the whole encoder.
  return { head: 'base', architecture }
}

/** id2label as a list by index; num_labels (default 2, as PretrainedConfig) when there is none. */
export function encoderLabels(f: Fields): { labels: string[]; problemType?: ProblemType } {
  const id2label = f.get('id2label')
  let labels: string[]
  if (id2label !== undefined) {
    if (!isObject(id2label)) f.fail(`"id2label" must be an object, got ${shown(id2label)}`)
    const n = Object.keys(id2label).length
    labels = []
    for (let i = 0; i < n; i++) {
      const label = id2label[String(i)]
      if (typeof label !== 'string')
        f.fail(`"id2label" must map 0..${n - 1} to label names; entry ${quote(String(i))} is ${shown(label)}`)
      labels.push(label)
    }
    if (f.has('num_labels') && f.positiveInt('num_labels') !== n)
      f.fail(`"num_labels" ${f.get('num_labels')} disagrees with the ${n} entries of "id2label"`)
  } else {
    const n = f.positiveInt('num_labels', 2)
    labels = Array.from({ length: n }, (_, i) => `LABEL_${i}`)
  }
  const problemType = f.get('problem_type')
  if (problemType !== undefined && !PROBLEM_TYPES.includes(problemType as ProblemType))
    f.fail(`"problem_type" must be one of ${PROBLEM_TYPES.join(', ')}, got ${shown(problemType)}`)
  return { labels, problemType: problemType as ProblemType | undefined }
}

export function parseBertConfig(f: Fields, modelType: Exclude<EncoderType, 'distilbert'>): EncoderConfig {
  const d = DEFAULTS[modelType]
  if (f.has('is_decoder') && f.boolean('is_decoder'))
    f.fail('"is_decoder": true (a causal BERT) is not supported; kiln runs BERT-family models as encoders')
  if (f.has('add_cross_attention') && f.boolean('add_cross_attention'))
    f.fail('"add_cross_attention": true is not supported')
  const positionType = f.string('position_embedding_type', 'absolute')
  if (positionType !== 'absolute')
    f.fail(`"position_embedding_type" ${quote(positionType)} is not supported (supported: absolute)`)
  const hiddenSize = f.positiveInt('hidden_size', 768)
  const numHeads = f.positiveInt('num_attention_heads', 12)
  if (hiddenSize % numHeads !== 0)
    f.fail(`"hidden_size" ${hiddenSize} is not a multiple of "num_attention_heads" ${numHeads}`)
  const padTokenId = f.tokenId('pad_token_id') ?? (f.has('pad_token_id') ? undefined : d.pad)
  // RoBERTa numbers positions from padding_idx + 1 (create_position_ids_from_input_ids).
  const positionOffset = modelType === 'bert' ? 0 : (padTokenId ?? d.pad) + 1
  const tablePositions = f.positiveInt('max_position_embeddings', 512)
  if (tablePositions <= positionOffset)
    f.fail(
      `"max_position_embeddings" ${tablePositions} leaves no positions after the offset of ${positionOffset}`,
    )
  return {
    modelType,
    ...encoderHead(f),
    vocabSize: f.positiveInt('vocab_size'),
    hiddenSize,
    intermediateSize: f.positiveInt('intermediate_size', 3072),
    numLayers: f.positiveInt('num_hidden_layers', 12),
    numHeads,
    headDim: hiddenSize / numHeads,
    maxPositions: tablePositions - positionOffset,
    positionOffset,
    typeVocabSize: f.positiveInt('type_vocab_size', d.types),
    layerNormEps: f.positiveNumber('layer_norm_eps', d.eps),
    activation: encoderActivation(f, 'hidden_act', 'gelu'),
    tieWordEmbeddings: f.boolean('tie_word_embeddings', true),
    padTokenId,
    ...encoderLabels(f),
    raw: f.obj,
  }
}
