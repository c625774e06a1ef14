// Greedy decoding with kiln, and how far a greedy path is beyond doubt (before its first near-tie),
// for tests that compare two decoders that do not compute bit-identically.
import type { Model } from '../../src/core/runtime/model.js'

/** kiln's greedy continuation (n tokens, no EOS stop) of each prompt, run as one batch. */
export async function kilnGreedy(model: Model, prompts: number[][], n: number): Promise<number[][]> {
  const out: number[][] = prompts.map(() => [])
  for await (const ev of model.generateMany(prompts, { maxNewTokens: n, temperature: 0, eosTokenIds: [] }))
    out[ev.seq].push(ev.id)
  return out
}

/**
 * How many of `next` (greedy after `prompt`) come before the first step whose top-2 logit gap in
 * `model` is below `gap`: up to there another decoder that differs by less than gap/2 per logit
 * must choose the same tokens.
 */
export async function tokensBeforeNearTie(
  model: Model,
  prompt: number[],
  next: number[],
  gap: number,
): Promise<number> {
  const V = model.config.vocabSize
  const logits = await model.logits([...prompt, ...next])
  for (let i = 0; i < next.length; i++) {
    const row = logits.subarray((prompt.length - 1 + i) * V, (prompt.length + i) * V)
    let a = Number.NEGATIVE_INFINITY
    let b = Number.NEGATIVE_INFINITY
    for (const v of row) {
      if (v > a) {
        b = a
        a = v
      } else if (v > b) b = v
    }
    if (a - b < gap) return i
  }
  return next.length
}
