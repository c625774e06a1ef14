// kiln's normalised model configs: ModelConfig for the decoders (llama, mistral, qwen2, gpt2; from
// config.json or GGUF metadata) and EncoderConfig for the encoders (bert, roberta, xlm-roberta,
// distilbert). Each family's folder parses its own config.json; registry.ts keys them by model_type.

export type Architecture = 'llama' | 'mistral' | 'qwen2' | 'gpt2'

export interface RopeConfig {
  theta: number
  type: 'default' | 'llama3' | 'linear'
  factor?: number
  lowFreqFactor?: number
  highFreqFactor?: number
  originalMaxPositions?: number
}

export interface ModelConfig {
  architecture: Architecture
  vocabSize: number // V
  hiddenSize: number // C
  intermediateSize: number
  numLayers: number // L
  numHeads: number // NH
  numKvHeads: number // NKV
  headDim: number // HS
  maxPositions: number
  norm: { kind: 'rms' | 'layer'; eps: number }
  activation: 'silu' | 'gelu' | 'gelu_tanh'
  /** Absent for gpt2 (learned positions). */
  rope?: RopeConfig
  tieWordEmbeddings: boolean
  /** q/k/v projections have biases (qwen2 always; llama `attention_bias`, which also covers o_proj). */
  attentionBias: boolean
  mlpBias: boolean
  bosTokenId?: number
  eosTokenIds: number[]
  padTokenId?: number
  raw: Record<string, unknown>
}

export { loadModelConfig, parseModelConfig } from './registry.js'
export { ropeInvFreq } from './rope.js'

/** The encoder families (bidirectional attention, post-norm LayerNorm, absolute positions). */
export type EncoderType = 'bert' | 'roberta' | 'xlm-roberta' | 'distilbert'

/** What sits on top of the encoder, from `architectures` (BertForMaskedLM → 'masked-lm'). */
export type EncoderHead = 'base' | 'sequence-classification' | 'token-classification' | 'masked-lm'

export type ProblemType = 'single_label_classification' | 'multi_label_classification' | 'regression'

export interface EncoderConfig {
  modelType: EncoderType
  /** `architectures[0]` of config.json, when it names one (BertForSequenceClassification). */
  architecture?: string
  head: EncoderHead
  vocabSize: number // V
  hiddenSize: number // C
  intermediateSize: number // F
  numLayers: number // L
  numHeads: number // NH
  headDim: number // HS
  /** Positions a sequence may use: the table's rows less `positionOffset`. */
  maxPositions: number
  /** Rows of the position table before position 0: RoBERTa's padding_idx + 1, else 0. */
  positionOffset: number
  /** Rows of the token-type table; 0 when there is none (DistilBERT). */
  typeVocabSize: number
  layerNormEps: number
  activation: 'gelu' | 'gelu_tanh' | 'relu'
  /** The masked-LM decoder is the word embedding (true unless the checkpoint says otherwise). */
  tieWordEmbeddings: boolean
  padTokenId?: number
  /** id2label by index; `num_labels` entries for the classification heads. */
  labels: string[]
  problemType?: ProblemType
  raw: Record<string, unknown>
}
