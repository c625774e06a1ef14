// kiln export --format onnx for encoders: bert-tiny exported through the CLI and run by
// transformers.js's own pipelines reproduces the golden outputs of PyTorch + transformers
// (classification probabilities, mean-pooled embeddings, the hidden state of a padded batch); every
// other family and head (RoBERTa, XLM-RoBERTa, DistilBERT; token classification, masked LM) is
// exported and validated in ONNX Runtime against kiln's encoder on a right-padded batch.
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../src/core/formats/safetensors.js'
import { jsonOut, removeTempDirs, runKiln } from '../helpers/cli.js'
import {
  addHead,
  asDistilBert,
  asRoberta,
  BERT_TINY,
  bertTinyConfig,
  bertTinyTensors,
  C,
  writeEncoderFolder,
} from '../helpers/encoder-variants.js'
import { maxAbsDiff, readJson } from '../helpers/fixtures.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-export-onnx-enc-'))
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true })
  removeTempDirs()
})

const g = readJson<{ sentences: string[]; input_ids: number[][]; attention_mask: number[][] }>(
  path.join(BERT_TINY, 'golden.json'),
)
const ref = openSafetensors(path.join(BERT_TINY, 'golden.safetensors'))
const golden = (name: string) => asFloat32(ref.tensors.get(name)!)

interface Report {
  task: string
  output: string
  validation: { ok: boolean; maxAbsDiff: number }
}

async function exportOnnx(model: string, name: string, extra: string[] = []): Promise<Report> {
  const r = await runKiln([
    'export',
    model,
    '--format',
    'onnx',
    '-o',
    path.join(tmp, name),
    '--json',
    ...extra,
  ])
  expect(r.status, r.stdout + r.stderr).toBe(0)
  const report = jsonOut<Report>(r) as Report
  expect(report.validation.ok).toBe(true)
  expect(report.validation.maxAbsDiff).toBeLessThan(1e-4)
  return report
}

async function transformersJs() {
  const tjs = await import('@huggingface/transformers')
  tjs.env.allowRemoteModels = false
  tjs.env.allowLocalModels = true
  tjs.env.localModelPath = `${tmp}/`
  return tjs
}

describe('kiln export --format onnx: encoders', () => {
  it("bert-tiny (a sequence classifier): transformers.js's text-classification gives the golden probabilities", async () => {
    expect((await exportOnnx(BERT_TINY, 'bert-cls')).task).toBe('text-classification')
    const tjs = await transformersJs()
    const classify = await tjs.pipeline('text-classification', 'bert-cls', {
      dtype: 'fp32',
      local_files_only: true,
    })
    const probs = golden('cls_probs')
    const labels = (bertTinyConfig().id2label ?? {}) as Record<string, string>
    for (let b = 0; b < g.sentences.length; b++) {
      const out = (await classify(g.sentences[b], { top_k: null })) as { label: string; score: number }[]
      for (const [i, label] of Object.entries(labels)) {
        const score = out.find((o) => o.label === label)?.score
        expect(score, `${g.sentences[b]} ${label}`).toBeCloseTo(probs[b * 2 + Number(i)], 4)
      }
    }
    await classify.dispose()
    // The golden (padded) batch straight through ONNX Runtime: the golden logits.
    const session = await ort.InferenceSession.create(path.join(tmp, 'bert-cls', 'onnx', 'model.onnx'))
    const [B, T] = [g.input_ids.length, g.input_ids[0].length]
    const t = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [B, T])
    const out = await session.run({
      input_ids: t(g.input_ids),
      attention_mask: t(g.attention_mask),
      token_type_ids: t(g.input_ids.map((r) => r.map(() => 0))),
    })
    expect(maxAbsDiff(out.logits.data as Float32Array, golden('cls_logits'))).toBeLessThan(1e-4)
  })

  it("--task feature-extraction: transformers.js's mean-pooled embeddings and the padded hidden state are the golden ones", async () => {
    expect((await exportOnnx(BERT_TINY, 'bert-features', ['--task', 'feature-extraction'])).task).toBe(
      'feature-extraction',
    )
    const tjs = await transformersJs()
    const embed = await tjs.pipeline('feature-extraction', 'bert-features', {
      dtype: 'fp32',
      local_files_only: true,
    })
    const out = await embed(g.sentences, { pooling: 'mean', normalize: true })
    expect(maxAbsDiff(out.data as Float32Array, golden('mean_pooled_normalized'))).toBeLessThan(1e-4)
    await embed.dispose()
    const session = await ort.InferenceSession.create(path.join(tmp, 'bert-features', 'onnx', 'model.onnx'))
    const [B, T] = [g.input_ids.length, g.input_ids[0].length]
    const t = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [B, T])
    const hidden = (
      await session.run({
        input_ids: t(g.input_ids),
        attention_mask: t(g.attention_mask),
        token_type_ids: t(g.input_ids.map((r) => r.map(() => 0))),
      })
    ).last_hidden_state.data as Float32Array
    const want = golden('last_hidden_state')
    for (let b = 0; b < B; b++)
      for (let s = 0; s < T; s++) {
        if (g.attention_mask[b][s] === 0) continue // padding rows: transformers' are not defined either
        const at = (b * T + s) * C
        expect(maxAbsDiff(hidden.subarray(at, at + C), want.subarray(at, at + C))).toBeLessThan(1e-4)
      }
  })

  it('every family and head validates against kiln on a right-padded batch', async () => {
    const V = bertTinyConfig().vocab_size as number
    const roberta = asRoberta('roberta', 1, false)
    // pad 1 as in XLM-R's own vocabulary: positions count the tokens that are not padding (by id, as
    // transformers does), so the pad id must not be a token the sample text holds (bert-tiny's 3 is [SEP]).
    const xlmr = asRoberta('xlm-roberta', 1, true)
    const distil = asDistilBert()
    const bertTokens = bertTinyTensors()
    const cases: [string, string, Record<string, unknown>][] = [
      ['roberta', writeEncoderFolder(roberta.config, roberta.tensors), { task: 'feature-extraction' }],
      ['xlm-roberta', writeEncoderFolder(xlmr.config, xlmr.tensors), { task: 'feature-extraction' }],
      ['distilbert', writeEncoderFolder(distil.config, distil.tensors), { task: 'feature-extraction' }],
      [
        'roberta-mlm',
        writeEncoderFolder(
          { ...roberta.config, architectures: ['RobertaForMaskedLM'] },
          addHead(
            asRoberta('roberta', 1, false).tensors,
            {
              'lm_head.dense.weight': [C, C],
              'lm_head.dense.bias': [C],
              'lm_head.layer_norm.weight': [C],
              'lm_head.layer_norm.bias': [C],
              'lm_head.bias': [V],
            },
            11,
          ),
        ),
        { task: 'fill-mask' },
      ],
      [
        'roberta-cls',
        writeEncoderFolder(
          {
            ...roberta.config,
            architectures: ['RobertaForSequenceClassification'],
            id2label: { 0: 'a', 1: 'b', 2: 'c' },
          },
          addHead(
            asRoberta('roberta', 1, false).tensors,
            {
              'classifier.dense.weight': [C, C],
              'classifier.dense.bias': [C],
              'classifier.out_proj.weight': [3, C],
              'classifier.out_proj.bias': [3],
            },
            13,
          ),
        ),
        { task: 'text-classification' },
      ],
      [
        'bert-ner',
        writeEncoderFolder(
          {
            ...bertTinyConfig(),
            architectures: ['BertForTokenClassification'],
            id2label: { 0: 'O', 1: 'B-PER', 2: 'I-PER' },
            label2id: undefined,
          },
          addHead(bertTokens, { 'classifier.weight': [3, C], 'classifier.bias': [3] }, 19),
        ),
        { task: 'token-classification' },
      ],
    ]
    for (const [name, dir, want] of cases) expect(await exportOnnx(dir, name), name).toMatchObject(want)
  }, 60_000)

  it('refuses a task the checkpoint has no head for, naming those it has', async () => {
    const r = await runKiln([
      'export',
      BERT_TINY,
      '--format',
      'onnx',
      '-o',
      path.join(tmp, 'x'),
      '--task',
      'fill-mask',
    ])
    expect(r.status).toBe(2)
    expect(r.stderr.trim()).toBe(
      'kiln: --task fill-mask does not fit this BertForSequenceClassification checkpoint (text-classification, feature-extraction)',
    )
    const d = await runKiln([
      'export',
      BERT_TINY,
      '--format',
      'onnx',
      '-o',
      path.join(tmp, 'y'),
      '--task',
      'text-generation-with-past',
    ])
    expect(d.status).toBe(2)
  })
})
