// The sentence embedder (what kiln serve's /v1/embeddings pools with) against the feature-extraction
// pipeline: a plain encoder gets mean + L2; a sentence-transformers folder its own pooling,
// Normalize (or not), default prompt left out of the pooling, and max_seq_length as the limit.
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { sentenceEmbedder } from '../../../src/core/pipelines/sentence-embedding.js'
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

/** A sentence-transformers folder: CLS pooling, no Normalize, a default prompt, max_seq_length 16. */
function stFolder(): string {
  const dir = writeEncoderFolder(bertTinyConfig(), bertTinyTensors())
  writeFileSync(
    path.join(dir, 'modules.json'),
    JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]),
  )
  mkdirSync(path.join(dir, '1_Pooling'))
  writeFileSync(
    path.join(dir, '1_Pooling', 'config.json'),
    JSON.stringify({ word_embedding_dimension: C, pooling_mode_mean_tokens: true, include_prompt: false }),
  )
  writeFileSync(
    path.join(dir, 'config_sentence_transformers.json'),
    JSON.stringify({ prompts: { query: 'query: ' }, default_prompt_name: 'query' }),
  )
  writeFileSync(path.join(dir, 'sentence_bert_config.json'), JSON.stringify({ max_seq_length: 16 }))
  return dir
}

async function embedAll(dir: string, texts: string[]) {
  const extract = await open('feature-extraction', dir)
  const embedder = sentenceEmbedder(extract.model)
  const inputs = texts.map((t) => embedder.encode(t))
  const hidden = await extract.model.forward(inputs, 'hidden', 'all')
  return { extract, embedder, vectors: hidden.map((h, i) => embedder.pool(h, inputs[i])) }
}

describe('sentenceEmbedder', () => {
  it("a plain encoder: mean pooling and L2 normalisation, the pipeline's vectors", async () => {
    const { extract, embedder, vectors } = await embedAll(BERT_TINY, golden.sentences)
    expect(embedder).toMatchObject({ dims: C, normalized: true, pooling: ['mean'], maxLength: 128 })
    const want = await extract(golden.sentences, { pooling: 'mean', normalize: true })
    vectors.forEach((v, i) => {
      expect(maxAbsDiff(v, want.data.subarray(i * C, (i + 1) * C))).toBeLessThanOrEqual(1e-6)
    })
    expect(embedder.encode(golden.sentences[0]).ids).toEqual(
      extract.model.tokenizer.encode(golden.sentences[0]),
    )
  })

  it("a sentence-transformers folder: its pooling, prompt and limit, as the pipeline's defaults", async () => {
    const texts = ['a short one', 'two words']
    // (The prompt is 5 tokens here: both fit the 16 tokens, so the pipeline cuts neither.)
    const { extract, embedder, vectors } = await embedAll(stFolder(), texts)
    expect(embedder).toMatchObject({ normalized: false, maxLength: 16 })
    expect(embedder.encode('x').promptTokens).toBeGreaterThan(0)
    const want = await extract(texts)
    vectors.forEach((v, i) => {
      expect(maxAbsDiff(v, want.data.subarray(i * C, (i + 1) * C))).toBeLessThanOrEqual(1e-6)
    })
    // Never truncated: the limit is the caller's to enforce.
    expect(embedder.encode('word '.repeat(20)).ids.length).toBeGreaterThan(16)
    expect(sentenceEmbedder(extract.model, { limit: 8 }).maxLength).toBe(8)
  })
})
