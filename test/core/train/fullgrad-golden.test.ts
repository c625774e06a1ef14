// Full fine-tuning's gradients against PyTorch (test/fixtures/golden/fullgrad, README there): the
// loss and the gradient of every weight of llama-tiny for one sequence, on both kernel tables.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { TrainSession } from '../../../src/core/train/train-session.js'
import { relError } from '../../helpers/numbers.js'

const GOLDEN = path.resolve(__dirname, '../../fixtures/golden')
const golden = JSON.parse(readFileSync(path.join(GOLDEN, 'fullgrad', 'golden.json'), 'utf8'))

describe('full fine-tuning gradients against PyTorch', () => {
  for (const backend of ['cpu', 'ref'] as const)
    it(`matches the loss and every weight's gradient (${backend} kernels)`, async () => {
      const session = new TrainSession(openModelSource(path.join(GOLDEN, 'llama-tiny')), {
        method: 'full',
        maxRows: 32,
        threads: 2,
        backend,
      })
      try {
        const ids: number[] = golden.input_ids[0]
        const { lossSum, tokens } = await session.step([{ ids, labels: ids }])
        expect(tokens).toBe(ids.length - 1)
        expect(Math.abs(lossSum / tokens - golden.loss)).toBeLessThan(1e-4)
        const want = openSafetensors(path.join(GOLDEN, 'fullgrad', 'grads.safetensors')).tensors
        expect(session.params.map((p) => p.name).sort()).toEqual([...want.keys()].sort())
        for (const p of session.params) {
          const g = session.read(p.grad).map((x) => x / tokens)
          expect(relError(g, asFloat32(want.get(p.name)!)), p.name).toBeLessThan(1e-3)
        }
      } finally {
        session.dispose()
      }
    })
})
