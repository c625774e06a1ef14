// Variants of bert-tiny with the heads the pipelines need, random and seeded.
import {
  addHead,
  bertTinyConfig,
  bertTinyTensors,
  C,
  writeEncoderFolder,
} from '../../helpers/encoder-variants.js'

export function maskedLmModel(): string {
  const tensors = addHead(
    bertTinyTensors(),
    {
      'cls.predictions.transform.dense.weight': [C, C],
      'cls.predictions.transform.dense.bias': [C],
      'cls.predictions.transform.LayerNorm.weight': [C],
      'cls.predictions.transform.LayerNorm.bias': [C],
      'cls.predictions.bias': [500],
    },
    7,
  )
  return writeEncoderFolder({ ...bertTinyConfig(), architectures: ['BertForMaskedLM'] }, tensors)
}

export const NER_LABELS = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC']

export function nerModel(): string {
  const tensors = addHead(bertTinyTensors(), { 'classifier.weight': [5, C], 'classifier.bias': [5] }, 23)
  const id2label = Object.fromEntries(NER_LABELS.map((l, i) => [i, l]))
  const config = {
    ...bertTinyConfig(),
    architectures: ['BertForTokenClassification'],
    id2label,
    label2id: undefined,
  }
  return writeEncoderFolder(config, tensors)
}

export function nliModel(labels = ['contradiction', 'neutral', 'entailment']): string {
  const tensors = addHead(bertTinyTensors(), { 'classifier.weight': [3, C], 'classifier.bias': [3] }, 29)
  const id2label = Object.fromEntries(labels.map((l, i) => [i, l]))
  return writeEncoderFolder({ ...bertTinyConfig(), id2label, label2id: undefined }, tensors)
}
