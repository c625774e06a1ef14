// Held-out perplexity of a model folder and of the bigram baseline, on the same tokens: the held-out
// chapters cut into records exactly as the training text was (whole verses, at most SEQ_LEN tokens),
// each record scored from its own start, every token after its first (the EOS that training appends
// is not scored: where a record ends is an artefact of the cutting).

import { fitBigram, meanNll } from './bigram.mjs'
import { chapterText, chunkChapters, readChapters, splitChapters } from './corpus.mjs'

/**
 * `lib`: kiln's dist modules { loadModel, Tokenizer }. `maxTokens`: score only about this many
 * held-out tokens, records evenly spaced through the held-out chapters (the CI check); default all.
 */
export async function evaluate({ modelDir, seqLen, maxTokens, threads, lib }) {
  const model = lib.loadModel(modelDir, { threads })
  try {
    const tok = model.tokenizer
    const V = model.config.vocabSize
    const { train, heldOut } = splitChapters(readChapters())
    let records = chunkChapters(heldOut, tok, seqLen).map((r) => r.ids)
    const total = records.reduce((n, ids) => n + ids.length - 1, 0)
    if (maxTokens !== undefined && maxTokens < total) {
      const every = Math.ceil(total / maxTokens)
      records = records.filter((_, i) => i % every === 0)
    }
    const bigram = fitBigram(
      chunkChapters(train, tok, seqLen).map((r) => r.ids),
      V,
    )
    const bigramNll = meanNll(bigram.logp, records)

    let nll = 0
    let n = 0
    for (const ids of records) {
      const logits = await model.logits(ids) // (T, V)
      for (let t = 0; t + 1 < ids.length; t++) {
        const row = logits.subarray(t * V, (t + 1) * V)
        let max = -Infinity
        for (const x of row) if (x > max) max = x
        let sum = 0
        for (const x of row) sum += Math.exp(x - max)
        nll -= row[ids[t + 1]] - max - Math.log(sum)
        n++
      }
    }
    const modelNll = nll / n
    const chars = records.reduce((c, ids) => c + tok.decode(ids.slice(1)).length, 0) // of the scored tokens
    return {
      heldOutChapters: heldOut.length,
      trainChapters: train.length,
      trainChars: train.map(chapterText).join(' ').length,
      records: records.length,
      tokens: n,
      chars,
      modelPerplexity: Math.exp(modelNll),
      bigramPerplexity: Math.exp(bigramNll),
      ratio: Math.exp(bigramNll - modelNll),
      modelBitsPerChar: (modelNll * n) / chars / Math.LN2,
      bigramBitsPerChar: (bigramNll * n) / chars / Math.LN2,
      bigram: { smoothing: bigram.name, params: bigram.params, devPerplexity: Math.exp(bigram.devNll) },
    }
  } finally {
    model.dispose()
  }
}
