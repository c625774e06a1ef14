// The engine against PyTorch + transformers: logits of every prompt position, greedy ids alone and
// in a batch, for each fixture architecture, on the fast kernels and on the reference kernels.
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { loadModel, type Model } from '../../../src/core/runtime/model.js'
import { type GoldenLM, golden, maxAbs, maxAbsDiff, readJson } from '../../helpers/fixtures.js'
import { kilnGreedy } from '../../helpers/greedy.js'

const MODELS = ['llama-tiny', 'llama-tiny-bf16', 'llama3-tiny', 'qwen2-tiny', 'gpt2-tiny']

for (const name of MODELS) {
  describe(name, () => {
    const dir = golden(name)
    const g = readJson<GoldenLM>(path.join(dir, 'golden.json'))
    const ref = openSafetensors(path.join(dir, 'golden.safetensors'))
    const models: Model[] = []
    const load = (backend: 'cpu' | 'ref', threads: number) => {
      const m = loadModel(dir, { threads, backend })
      models.push(m)
      return m
    }
    afterAll(() => {
      for (const m of models) m.dispose()
    })

    for (const [backend, threads] of [
      ['cpu', 2],
      ['cpu', 1],
      ['ref', 1],
    ] as const) {
      it(`logits of every position match transformers (${backend}, ${threads} threads)`, async () => {
        const model = load(backend, threads)
        for (let i = 0; i < g.single.length; i++) {
          const want = asFloat32(ref.tensors.get(`logits.${i}`)!)
          const got = await model.logits(g.single[i].input_ids)
          expect(got.length).toBe(want.length)
          const tol = 1e-4 * Math.max(1, maxAbs(want))
          expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(tol)
        }
      })
    }

    it('tokenizes the prompts as transformers does', () => {
      const model = load('cpu', 2)
      g.prompts.forEach((p, i) => {
        expect(model.tokenizer.encode(p)).toEqual(g.single[i].input_ids)
      })
    })

    it('greedy ids equal transformers, alone and batched', async () => {
      const model = load('cpu', 2)
      const prompts = g.single.map((s) => s.input_ids)
      for (let i = 0; i < prompts.length; i++) {
        const [ids] = await kilnGreedy(model, [prompts[i]], g.new_tokens)
        expect(ids).toEqual(g.single[i].greedy_new_ids)
      }
      const batched = await kilnGreedy(model, prompts, g.new_tokens)
      expect(batched).toEqual(g.batched.greedy_new_ids)
      expect(batched).toEqual(g.single.map((s) => s.greedy_new_ids))
    })
  })
}
