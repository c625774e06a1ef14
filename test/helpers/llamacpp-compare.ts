// kiln and llama.cpp (node-llama-cpp) on the same GGUF file: greedy ids per prompt, which must agree
// up to kiln's first near-tie, and the largest difference between their next-token distributions
// after each prompt (temperature 1, no truncation).
import { expect } from 'vitest'
import type { Model } from '../../src/core/runtime/model.js'
import { llamaGreedy, type NlcModel } from './gguf-peers.js'
import { kilnGreedy, tokensBeforeNearTie } from './greedy.js'
import { softmaxRow } from './llama-quantize.js'

export interface Agreement {
  /** Per prompt: "agreeing/new" greedy tokens. */
  cells: string[]
  /** Per prompt: kiln's tokens before a top-2 gap below the near-tie bound. */
  sures: number[]
  maxProbDiff: number
}

export async function compareWithLlamaCpp(
  kiln: Model,
  theirs: NlcModel,
  prompts: number[][],
  nearTie: number,
  newTokens: number,
): Promise<Agreement> {
  const out: Agreement = { cells: [], sures: [], maxProbDiff: 0 }
  const ours = await kilnGreedy(kiln, prompts, newTokens)
  for (let i = 0; i < prompts.length; i++) {
    const { got, agree } = await llamaGreedy(theirs, prompts[i], ours[i])
    const sure = await tokensBeforeNearTie(kiln, prompts[i], ours[i], nearTie)
    out.cells.push(`${agree}/${newTokens}`)
    out.sures.push(sure)
    expect(agree, `llama.cpp ${got.join(',')} vs kiln ${ours[i].join(',')}`).toBeGreaterThanOrEqual(sure)
    const V = kiln.config.vocabSize
    const mine = softmaxRow(await kiln.logits(prompts[i]), prompts[i].length - 1, V)
    const context = await theirs.createContext({ contextSize: 256, threads: 1 })
    try {
      const options = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 }
      for await (const r of context
        .getSequence()
        .evaluateWithMetadata(prompts[i], { probabilities: true }, options)) {
        expect(r.probabilities.size).toBe(V)
        for (const [token, p] of r.probabilities)
          out.maxProbDiff = Math.max(out.maxProbDiff, Math.abs(p - mine[token]))
        break
      }
    } finally {
      await context.dispose()
    }
  }
  return out
}
