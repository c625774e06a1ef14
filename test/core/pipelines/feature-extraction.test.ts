// feature-extraction against transformers' mean-pooled, normalised bert-tiny embedding, and the
// sentence-transformers settings of a folder (pooling modes, Normalize, prompts, include_prompt,
// max_seq_length) against hand computations from the hidden states.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import {
  BERT_TINY,
  bertTinyConfig,
  bertTinyTensors,
  C,
  writeEncoderFolder,
} from '../../helpers/encoder-variants.js'
import { maxAbsDiff } from '../../helpers/fixtures.js'
import { disposeAfterAll, golden, open } from './helpers.js'

disposeAfterAll()

function stFolder(
  pooling: Record<string, boolean>,
  opts: { normalize?: boolean; prompts?: Record<string, string>; max?: number } = {},
) {
  const dir = writeEncoderFolder(bertTinyConfig(), bertTinyTensors())
  const modules = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
  ]
  if (opts.normalize)
    modules.push({ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' })
  writeFileSync(path.join(dir, 'modules.json'), JSON.stringify(modules))
  mkdirSync(path.join(dir, '1_Pooling'))
  writeFileSync(
    path.join(dir, '1_Pooling', 'config.json'),
    JSON.stringify({ word_embedding_dimension: C, ...pooling }),
  )
  if (opts.prompts)
    writeFileSync(
      path.join(dir, 'config_sentence_transformers.json'),
      JSON.stringify({ prompts: opts.prompts }),
    )
  if (opts.max)
    writeFileSync(path.join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: opts.max }))
  return dir
}

describe('feature-extraction', () => {
  it("mean pooling + normalisation is transformers' / sentence-transformers' embedding within 1e-4", async () => {
    const extract = await open('feature-extraction', BERT_TINY)
    const want = asFloat32(
      openSafetensors(path.join(BERT_TINY, 'golden.safetensors')).tensors.get('mean_pooled_normalized')!,
    )
    const got = await extract(golden.sentences, { pooling: 'mean', normalize: true })
    expect(got.dims).toEqual([3, C])
    expect(maxAbsDiff(got.data, want)).toBeLessThanOrEqual(1e-4)
    expect((got.tolist() as number[][])[1]).toHaveLength(C)
  })

  it("without pooling: every token's vector, (B, T, C), zeros past a shorter text's end", async () => {
    const extract = await open('feature-extraction', BERT_TINY)
    const got = await extract(golden.sentences)
    const T = golden.input_ids[0].length
    expect(got.dims).toEqual([3, T, C])
    const hidden = await extract.model.forward([{ ids: golden.input_ids[2].slice(0, 7) }], 'hidden')
    const row2 = got.data.subarray(2 * T * C, 3 * T * C)
    expect(maxAbsDiff(row2.subarray(0, 7 * C), hidden[0])).toBe(0)
    expect(row2.subarray(7 * C).every((x) => x === 0)).toBe(true)
  })

  it('a sentence-transformers folder brings its own pooling (cls, max, last) and Normalize', async () => {
    const ids = golden.input_ids[1].slice(0, 9)
    for (const [key, reduce] of [
      ['pooling_mode_cls_token', (rows: number[][]) => rows[0]],
      [
        'pooling_mode_max_tokens',
        (rows: number[][]) => rows[0].map((_, c) => Math.max(...rows.map((r) => r[c]))),
      ],
      ['pooling_mode_lasttoken', (rows: number[][]) => rows[rows.length - 1]],
    ] as const) {
      const extract = await open('feature-extraction', stFolder({ [key]: true }, { normalize: true }))
      const [h] = await extract.model.forward([{ ids }], 'hidden')
      const rows = Array.from({ length: ids.length }, (_, t) => Array.from(h.subarray(t * C, (t + 1) * C)))
      const v = reduce(rows)
      const norm = Math.hypot(...v)
      const got = await extract(golden.sentences[1])
      expect(got.dims, key).toEqual([1, C])
      expect(
        maxAbsDiff(
          got.data,
          v.map((x) => x / norm),
        ),
        key,
      ).toBeLessThanOrEqual(1e-6)
    }
  })

  it('prompts by name, include_prompt false leaving the prompt out of the mean, and max_seq_length', async () => {
    const dir = stFolder(
      { pooling_mode_mean_tokens: true, include_prompt: false },
      { prompts: { query: 'query: ' }, max: 6 },
    )
    const extract = await open('feature-extraction', dir)
    const tok = extract.model.tokenizer
    const full = tok.encodeWithOffsets('query: a short one', { maxLength: 6 })
    expect(full.ids).toHaveLength(6)
    const skip = tok.encodeWithOffsets('query: ').ids.length - 1
    const [h] = await extract.model.forward([{ ids: full.ids }], 'hidden')
    const want = new Float64Array(C)
    for (let t = skip; t < 6; t++) for (let c = 0; c < C; c++) want[c] += h[t * C + c] / (6 - skip)
    const got = await extract('a short one', { promptName: 'query' })
    expect(maxAbsDiff(got.data, want)).toBeLessThanOrEqual(1e-6)
    await expect(extract('x', { promptName: 'passage' })).rejects.toThrow('no prompt "passage"')
  })

  it('modules kiln cannot run are refused by name', async () => {
    const dir = stFolder({ pooling_mode_mean_tokens: true })
    writeFileSync(
      path.join(dir, 'modules.json'),
      JSON.stringify([{ idx: 0, name: '0', path: '2_Dense', type: 'sentence_transformers.models.Dense' }]),
    )
    await expect(open('feature-extraction', dir)).rejects.toThrow(
      'module sentence_transformers.models.Dense is not supported',
    )
  })
})
