// The encoder against PyTorch + transformers on bert-tiny (BertForSequenceClassification): the last
// hidden state of every real token, the classifier's logits and probabilities, and the masked mean
// pooled, normalised embedding, within the fixtures' 1e-4; batched, alone, and on the reference
// kernels. Padding rows of the golden batch are never computed here (rows are ragged).
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { type EncoderModel, loadEncoder } from '../../../src/core/runtime/encoder.js'
import { golden, maxAbs, maxAbsDiff, readJson } from '../../helpers/fixtures.js'

interface GoldenEncoder {
  sentences: string[]
  input_ids: number[][]
  attention_mask: number[][]
}

const dir = golden('bert-tiny')
const g = readJson<GoldenEncoder>(path.join(dir, 'golden.json'))
const ref = openSafetensors(path.join(dir, 'golden.safetensors'))
const tensor = (name: string) => {
  const t = ref.tensors.get(name)!
  return { data: asFloat32(t), shape: t.shape }
}
const inputs = g.input_ids.map((ids, b) => ({ ids: ids.filter((_, t) => g.attention_mask[b][t] === 1) }))

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  expect(got.length, what).toBe(want.length)
  expect(maxAbsDiff(got, want), what).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(want)))
}

describe('bert-tiny against transformers', () => {
  const models: EncoderModel[] = []
  afterAll(() => {
    for (const m of models) m.dispose()
  })

  for (const [backend, threads] of [
    ['cpu', 2],
    ['cpu', 1],
    ['ref', 1],
  ] as const) {
    it(`last_hidden_state and classifier logits (${backend}, ${threads} threads)`, async () => {
      const model = loadEncoder(dir, { backend, threads })
      models.push(model)
      const hidden = tensor('last_hidden_state') // (B, T, C)
      const [, T, C] = hidden.shape
      const got = await model.forward(inputs, 'hidden')
      inputs.forEach((input, b) => {
        const want = hidden.data.subarray(b * T * C, (b * T + input.ids.length) * C)
        expectClose(got[b], want, `last_hidden_state[${b}]`)
      })
      const logits = await model.forward(inputs, 'logits', 'first')
      const want = tensor('cls_logits').data
      expectClose(
        logits.flatMap((l) => [...l]),
        want,
        'cls_logits',
      )
    })
  }

  it('batched rows equal the rows of each input alone, bit for bit', async () => {
    const model = loadEncoder(dir, { threads: 2 })
    models.push(model)
    const batched = await model.forward(inputs, 'hidden')
    for (let b = 0; b < inputs.length; b++) {
      const [alone] = await model.forward([inputs[b]], 'hidden')
      expect(Buffer.from(alone.buffer).equals(Buffer.from(batched[b].buffer)), `input ${b}`).toBe(true)
    }
  })
})
