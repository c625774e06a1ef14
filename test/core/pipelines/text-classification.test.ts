// text-classification on bert-tiny against transformers' probabilities, with the result shapes of
// transformers.js and the options of Python transformers (topK, functionToApply, problem_type).
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import type { LabelScore } from '../../../src/core/pipelines/index.js'
import {
  BERT_TINY,
  bertTinyConfig,
  bertTinyTensors,
  writeEncoderFolder,
} from '../../helpers/encoder-variants.js'
import { disposeAfterAll, golden, open } from './helpers.js'

disposeAfterAll()
const probs = asFloat32(openSafetensors(path.join(BERT_TINY, 'golden.safetensors')).tensors.get('cls_probs')!)
const labels = ['NEGATIVE', 'POSITIVE']

describe('text-classification', () => {
  it("gives transformers' probabilities, best label first, within 1e-4", async () => {
    const classify = await open('text-classification', BERT_TINY)
    const all = (await classify(golden.sentences, { topK: null })) as LabelScore[][]
    all.forEach((result, b) => {
      const want = [0, 1]
        .map((i) => ({ label: labels[i], score: probs[b * 2 + i] }))
        .sort((x, y) => y.score - x.score)
      expect(result.map((r) => r.label)).toEqual(want.map((w) => w.label))
      result.forEach((r, i) => {
        expect(Math.abs(r.score - want[i].score)).toBeLessThanOrEqual(1e-4)
      })
    })
  })

  it('result shapes: one text → its best label in a list; a list → one per text; topK > 1 → a list per text', async () => {
    const classify = await open('sentiment-analysis', BERT_TINY)
    const one = (await classify(golden.sentences[0])) as LabelScore[]
    expect(one).toHaveLength(1)
    expect(Object.keys(one[0]).sort()).toEqual(['label', 'score'])
    const many = (await classify(golden.sentences)) as LabelScore[]
    expect(many).toHaveLength(3)
    expect(many[0]).toEqual(one[0])
    const top2 = (await classify(golden.sentences[0], { topK: 2 })) as LabelScore[]
    expect(top2.map((x) => x.label).sort()).toEqual(labels)
    const top2many = (await classify(golden.sentences, { topK: 2 })) as LabelScore[][]
    expect(top2many[0]).toEqual(top2)
    expect(top2many).toHaveLength(3)
  })

  it('functionToApply: sigmoid and none of the logits; multi-label models default to sigmoid', async () => {
    const classify = await open('text-classification', BERT_TINY)
    const [logits] = await classify.model.forward([{ ids: golden.input_ids[0] }], 'logits', 'first')
    const none = (await classify(golden.sentences[0], {
      topK: null,
      functionToApply: 'none',
    })) as LabelScore[]
    const raw = Object.fromEntries(none.map((x) => [x.label, x.score]))
    expect(raw.NEGATIVE).toBeCloseTo(logits[0], 6)
    expect(raw.POSITIVE).toBeCloseTo(logits[1], 6)
    const sig = (await classify(golden.sentences[0], {
      topK: null,
      functionToApply: 'sigmoid',
    })) as LabelScore[]
    for (const s of sig) expect(s.score).toBeCloseTo(1 / (1 + Math.exp(-raw[s.label])), 6)

    const multi = writeEncoderFolder(
      { ...bertTinyConfig(), problem_type: 'multi_label_classification' },
      bertTinyTensors(),
    )
    const classifyMulti = await open('text-classification', multi)
    const byDefault = (await classifyMulti(golden.sentences[0], { topK: null })) as LabelScore[]
    expect(byDefault).toEqual(sig)
  })

  it('a text pair runs as one sequence with token types 0 and 1', async () => {
    const classify = await open('text-classification', BERT_TINY)
    const tok = classify.model.tokenizer
    const e = tok.encodeWithOffsets('a premise', { pair: 'a hypothesis' })
    expect(e.typeIds).toContain(1)
    const [logits] = await classify.model.forward([{ ids: e.ids, typeIds: e.typeIds }], 'logits', 'first')
    const got = (await classify(
      { text: 'a premise', textPair: 'a hypothesis' },
      { topK: null, functionToApply: 'none' },
    )) as LabelScore[]
    expect(got.find((x) => x.label === 'NEGATIVE')!.score).toBeCloseTo(logits[0], 6)
  })

  it('long texts are truncated to the model length; bad options are one clear error', async () => {
    const classify = await open('text-classification', BERT_TINY)
    const long = 'word '.repeat(2000)
    expect(((await classify(long)) as LabelScore[])[0].label).toMatch(/NEGATIVE|POSITIVE/)
    await expect(classify('x', { topK: 0 })).rejects.toThrow('topK must be an integer ≥ 1 (got 0)')
  })

  it('a model without the head is refused, naming what it is', async () => {
    await expect(open('text-classification', path.join(BERT_TINY, '..', 'llama-tiny'))).rejects.toThrow(
      /not an encoder/,
    )
    const bare = writeEncoderFolder({ ...bertTinyConfig(), architectures: ['BertModel'] }, bertTinyTensors())
    await expect(open('text-classification', bare)).rejects.toThrow(
      /text-classification needs a sequence classifier .* is a bare encoder \(BertModel\)/,
    )
  })
})
