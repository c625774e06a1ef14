// Every head over the bert-tiny encoder against a hand computation (float64, from the hidden
// state kiln's encoder gives, itself proved against transformers): BERT's and RoBERTa's masked-LM
// heads (tied decoder and its bias), RoBERTa's classification head (dense → tanh → out_proj on
// <s>), DistilBERT's (pre_classifier → ReLU → classifier) and the token classifiers.
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { type EncoderModel, loadEncoder } from '../../../src/core/runtime/encoder.js'
import { removeTempDirs } from '../../helpers/cli.js'
import {
  addHead,
  asDistilBert,
  asRoberta,
  BERT_TINY,
  bertTinyConfig,
  bertTinyTensors,
  C,
  type Tensors,
  writeEncoderFolder,
} from '../../helpers/encoder-variants.js'
import { maxAbs, maxAbsDiff, readJson } from '../../helpers/fixtures.js'

const g = readJson<{ input_ids: number[][]; attention_mask: number[][] }>(path.join(BERT_TINY, 'golden.json'))
const inputs = g.input_ids.map((ids, b) => ({ ids: ids.filter((_, t) => g.attention_mask[b][t] === 1) }))
const V = 500
const models: EncoderModel[] = []
const load = (dir: string) => {
  const m = loadEncoder(dir, { threads: 2 })
  models.push(m)
  return m
}
afterAll(() => {
  for (const m of models) m.dispose()
  removeTempDirs()
})

function erf(x: number): number {
  if (Math.abs(x) > 5) return Math.sign(x)
  let term = x
  let sum = x
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n
    sum += term / (2 * n + 1)
  }
  return (2 / Math.sqrt(Math.PI)) * sum
}
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2))

// y (out) = W (out, in) · x (in) + b
function linear(t: Tensors, name: string, x: ArrayLike<number>, inF: number, outF: number): Float64Array {
  const W = t.get(`${name}.weight`)!.data
  const b = t.get(`${name}.bias`)!.data
  return Float64Array.from({ length: outF }, (_, o) => {
    let s = b[o]
    for (let i = 0; i < inF; i++) s += W[o * inF + i] * x[i]
    return s
  })
}

function layerNorm(t: Tensors, name: string, x: Float64Array, eps: number): Float64Array {
  const mean = x.reduce((a, b) => a + b, 0) / x.length
  const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length
  const w = t.get(`${name}.weight`)!.data
  const b = t.get(`${name}.bias`)!.data
  return x.map((a, i) => ((a - mean) / Math.sqrt(v + eps)) * w[i] + b[i])
}

function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  expect(got.length, what).toBe(want.length)
  expect(maxAbsDiff(got, want), what).toBeLessThanOrEqual(1e-5 * Math.max(1, maxAbs(want)))
}

/** (R, C) rows of each input, from the encoder itself. */
async function hiddenRows(m: EncoderModel, rows: number[][]) {
  return m.forward(inputs, 'hidden', rows)
}

describe('encoder heads against hand computations', () => {
  it('BERT masked LM: transform (dense → GELU → LayerNorm) → tied decoder + bias', async () => {
    const tensors = addHead(
      bertTinyTensors(),
      {
        'cls.predictions.transform.dense.weight': [C, C],
        'cls.predictions.transform.dense.bias': [C],
        'cls.predictions.transform.LayerNorm.weight': [C],
        'cls.predictions.transform.LayerNorm.bias': [C],
        'cls.predictions.bias': [V],
      },
      7,
    )
    tensors.delete('classifier.weight')
    tensors.delete('classifier.bias')
    const config = { ...bertTinyConfig(), architectures: ['BertForMaskedLM'] }
    const m = load(writeEncoderFolder(config, tensors))
    const rows = inputs.map((x) => [1, x.ids.length - 2])
    const logits = await m.forward(inputs, 'logits', rows)
    const hidden = await hiddenRows(m, rows)
    const E = tensors.get('bert.embeddings.word_embeddings.weight')!.data
    const bias = tensors.get('cls.predictions.bias')!.data
    hidden.forEach((h, b) => {
      for (let r = 0; r < 2; r++) {
        const x = h.subarray(r * C, (r + 1) * C)
        const t = layerNorm(
          tensors,
          'cls.predictions.transform.LayerNorm',
          linear(tensors, 'cls.predictions.transform.dense', x, C, C).map(gelu),
          1e-12,
        )
        const want = Float64Array.from({ length: V }, (_, v) => {
          let s = bias[v]
          for (let c = 0; c < C; c++) s += E[v * C + c] * t[c]
          return s
        })
        expectNear(logits[b].subarray(r * V, (r + 1) * V), want, `input ${b} row ${r}`)
      }
    })
  })

  it('RoBERTa masked LM: lm_head (dense → GELU → layer_norm) → tied decoder + bias', async () => {
    const { config, tensors } = asRoberta('roberta', 1, false)
    addHead(
      tensors,
      {
        'lm_head.dense.weight': [C, C],
        'lm_head.dense.bias': [C],
        'lm_head.layer_norm.weight': [C],
        'lm_head.layer_norm.bias': [C],
        'lm_head.bias': [V],
      },
      11,
    )
    const m = load(writeEncoderFolder({ ...config, architectures: ['RobertaForMaskedLM'] }, tensors))
    const rows = inputs.map(() => [0])
    const [logits, hidden] = [await m.forward(inputs, 'logits', rows), await hiddenRows(m, rows)]
    const E = tensors.get('roberta.embeddings.word_embeddings.weight')!.data
    const bias = tensors.get('lm_head.bias')!.data
    hidden.forEach((h, b) => {
      const t = layerNorm(
        tensors,
        'lm_head.layer_norm',
        linear(tensors, 'lm_head.dense', h, C, C).map(gelu),
        1e-12,
      )
      const want = Float64Array.from({ length: V }, (_, v) => {
        let s = bias[v]
        for (let c = 0; c < C; c++) s += E[v * C + c] * t[c]
        return s
      })
      expectNear(logits[b], want, `input ${b}`)
    })
  })

  it('RoBERTa sequence classification: dense → tanh → out_proj on <s>', async () => {
    const { config, tensors } = asRoberta('xlm-roberta', 1, false)
    addHead(
      tensors,
      {
        'classifier.dense.weight': [C, C],
        'classifier.dense.bias': [C],
        'classifier.out_proj.weight': [3, C],
        'classifier.out_proj.bias': [3],
      },
      13,
    )
    const labels = { 0: 'a', 1: 'b', 2: 'c' }
    const m = load(
      writeEncoderFolder(
        { ...config, architectures: ['XLMRobertaForSequenceClassification'], id2label: labels },
        tensors,
      ),
    )
    expect(m.config.labels).toEqual(['a', 'b', 'c'])
    const [logits, hidden] = [
      await m.forward(inputs, 'logits', 'first'),
      await m.forward(inputs, 'hidden', 'first'),
    ]
    hidden.forEach((h, b) => {
      const want = linear(
        tensors,
        'classifier.out_proj',
        linear(tensors, 'classifier.dense', h, C, C).map(Math.tanh),
        C,
        3,
      )
      expectNear(logits[b], want, `input ${b}`)
    })
  })

  it('DistilBERT sequence classification: pre_classifier → ReLU → classifier on [CLS]', async () => {
    const { config, tensors } = asDistilBert()
    addHead(
      tensors,
      {
        'pre_classifier.weight': [C, C],
        'pre_classifier.bias': [C],
        'classifier.weight': [2, C],
        'classifier.bias': [2],
      },
      17,
    )
    const m = load(
      writeEncoderFolder({ ...config, architectures: ['DistilBertForSequenceClassification'] }, tensors),
    )
    expect(m.config.labels).toEqual(['LABEL_0', 'LABEL_1'])
    const [logits, hidden] = [
      await m.forward(inputs, 'logits', 'first'),
      await m.forward(inputs, 'hidden', 'first'),
    ]
    hidden.forEach((h, b) => {
      const want = linear(
        tensors,
        'classifier',
        linear(tensors, 'pre_classifier', h, C, C).map((x) => Math.max(x, 0)),
        C,
        2,
      )
      expectNear(logits[b], want, `input ${b}`)
    })
  })

  for (const family of ['bert', 'distilbert'] as const)
    it(`${family} token classification: a classifier on every token`, async () => {
      const base =
        family === 'bert' ? { config: bertTinyConfig(), tensors: bertTinyTensors() } : asDistilBert()
      const { config, tensors } = base
      addHead(tensors, { 'classifier.weight': [5, C], 'classifier.bias': [5] }, 19)
      const arch = family === 'bert' ? 'BertForTokenClassification' : 'DistilBertForTokenClassification'
      const id2label = { 0: 'O', 1: 'B-PER', 2: 'I-PER', 3: 'B-LOC', 4: 'I-LOC' }
      const m = load(
        writeEncoderFolder({ ...config, architectures: [arch], id2label, label2id: undefined }, tensors),
      )
      const [logits, hidden] = [await m.forward(inputs, 'logits'), await m.forward(inputs, 'hidden')]
      hidden.forEach((h, b) => {
        const T = inputs[b].ids.length
        for (let t = 0; t < T; t++)
          expectNear(
            logits[b].subarray(t * 5, (t + 1) * 5),
            linear(tensors, 'classifier', h.subarray(t * C, (t + 1) * C), C, 5),
            `input ${b} token ${t}`,
          )
      })
    })

  it('a bare encoder has no head to run', async () => {
    const { config, tensors } = asRoberta('roberta', 1, false)
    const m = load(writeEncoderFolder(config, tensors))
    await expect(m.forward(inputs, 'logits', 'first')).rejects.toThrow('RobertaModel has no task head')
  })
})
