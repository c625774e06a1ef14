// LoRA over GGUF bases (QLoRA): the frozen base is read as stored, block-quantized weights
// included (their input gradient through matmul_backward_input, never a whole f32 copy). Over an F32
// GGUF of llama-tiny, whose q/k rows llama.cpp permutes, training follows PEFT exactly as over the
// folder (test/fixtures/golden/lora), and the adapter comes out in transformers' row order; over
// Q8_0 and Q4_0 bases its gradients are those of LoRA over the dequantized weights (up to the
// forward's Q8 activations), and what it writes applies with --adapter on the same base.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../../src/core/export/to-gguf.js'
import { openGguf, writeGguf } from '../../../src/core/formats/gguf.js'
import { readLoraAdapter } from '../../../src/core/formats/peft.js'
import { type NativeQuantType, native } from '../../../src/core/native.js'
import { loadModel } from '../../../src/core/runtime/model.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { finetune } from '../../../src/core/train/finetune.js'
import { golden as fixture } from '../../helpers/fixtures.js'
import { relError } from '../../helpers/numbers.js'
import { ADAM, batch, golden, goldenLoraSession, loraFile, PEFT, tensors } from './golden-lora.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-qlora-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

/** The same GGUF with every block-quantized tensor dequantized to F32: what QLoRA's base computes as. */
function dequantized(file: string): string {
  const src = openGguf(file)
  const out = file.replace(/\.gguf$/, '-dequantized.gguf')
  writeGguf(out, {
    metadata: [...src.metadata],
    tensors: [...src.tensors.values()].map((t) => {
      const quant = t.type.toLowerCase() as NativeQuantType
      if (!['q8_0', 'q4_0'].includes(quant))
        return { name: t.name, type: t.type as 'F32', shape: t.shape, data: t.data }
      const cols = t.shape[t.shape.length - 1]
      const values = native().dequantize(
        quant,
        t.data,
        t.data.byteLength / ((cols / 32) * (quant === 'q8_0' ? 34 : 18)),
        cols,
      )
      return { name: t.name, type: 'F32' as const, shape: t.shape, data: values }
    }),
  })
  return out
}

const ggufs = new Map<string, string>()
function gguf(dtype: 'f32' | 'q8_0' | 'q4_0'): string {
  let file = ggufs.get(dtype)
  if (!file) {
    file = path.join(tmp, `llama-tiny-${dtype}.gguf`)
    exportGguf(fixture('llama-tiny'), file, { dtype })
    ggufs.set(dtype, file)
  }
  return file
}

/** PEFT's golden run over `model`: the step-0 loss and gradients, then the adapter after five steps. */
async function followPeft(model: string, tol: { loss: number; grad: number; adapter: number }) {
  const session = goldenLoraSession(model)
  try {
    const want = tensors(loraFile('grads_step0.safetensors'))
    for (let s = 0; s < 5; s++) {
      const { lossSum, tokens } = await session.step(batch())
      expect(
        Math.abs(lossSum / tokens - golden.losses_before_each_step[s]),
        `loss before step ${s}`,
      ).toBeLessThan(tol.loss)
      if (s === 0)
        for (const p of session.params) {
          const g = session.readParameter(p, 'grad').map((x) => x / tokens)
          expect(relError(g, want.get(PEFT + p.name) as Float32Array), p.name).toBeLessThan(tol.grad)
        }
      session.update(ADAM, tokens)
    }
    const after = tensors(loraFile('adapter_after_5_steps', 'adapter_model.safetensors'))
    for (const p of session.params)
      expect(
        relError(session.readParameter(p), after.get(PEFT + p.name) as Float32Array),
        p.name,
      ).toBeLessThan(tol.adapter)
  } finally {
    session.dispose()
  }
}

/** The step-0 loss and LoRA gradients (checkpoint order) from PEFT's initial adapter over `model`. */
async function stepZero(model: string): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const session = goldenLoraSession(model)
  try {
    const { lossSum, tokens } = await session.step(batch())
    const grads = new Map(
      session.params.map((p) => [p.name, session.readParameter(p, 'grad').map((x) => x / tokens)]),
    )
    return { loss: lossSum / tokens, grads }
  } finally {
    session.dispose()
  }
}

describe('LoRA over GGUF bases', () => {
  it('F32 GGUF (q/k rows permuted): follows PEFT as the folder does', async () => {
    await followPeft(gguf('f32'), { loss: 1e-4, grad: 1e-3, adapter: 1e-4 })
  })

  for (const dtype of ['q8_0', 'q4_0'] as const)
    it(`${dtype} base (QLoRA): the gradients of LoRA over its dequantized weights`, async () => {
      const file = gguf(dtype)
      expect(openModelSource(file).weights.get('model.layers.0.self_attn.q_proj.weight')?.dtype).toBe(
        dtype.toUpperCase(),
      )
      const quant = await stepZero(file)
      const exact = await stepZero(dequantized(file))
      // The only difference left: the Q4_0 forward quantizes activations to Q8 blocks (ggml's
      // vec_dot_type) where the dequantized F32 base does not (Q8_0's prefill dequantizes rows).
      expect(Math.abs(quant.loss - exact.loss)).toBeLessThan(dtype === 'q8_0' ? 1e-5 : 1e-3)
      for (const [name, g] of quant.grads)
        expect(relError(g, exact.grads.get(name)!), name).toBeLessThan(dtype === 'q8_0' ? 1e-5 : 2e-2)
      // and both near PEFT's over the unquantized model
      expect(Math.abs(quant.loss - golden.loss_step0)).toBeLessThan(dtype === 'q8_0' ? 2e-2 : 1e-1)
    })

  it('kiln finetune over a Q8_0 base writes an adapter that applies at load on that base', async () => {
    const data = path.join(tmp, 'train.jsonl')
    writeFileSync(
      data,
      [
        'The quick brown fox jumps over the lazy dog.',
        'A small model learns the words it sees again and again.',
      ]
        .map((text) => JSON.stringify({ text }))
        .join('\n'),
    )
    const out = path.join(tmp, 'qlora-out')
    const base = gguf('q8_0')
    const r = await finetune({
      model: base,
      data,
      out,
      rank: 4,
      maxSteps: 6,
      lr: 1e-2,
      batchSize: 2,
      seqLen: 32,
      threads: 2,
    })
    expect(r.finalLoss).toBeLessThan(JSON.parse(readFileSync(r.metricsFile, 'utf8').split('\n')[0]).loss)
    expect(readLoraAdapter(out).modules.size).toBe(4) // q_proj and v_proj of 2 layers
    const ids = [1, 5, 17, 42, 99]
    const plain = loadModel(base, { threads: 1 })
    const adapted = loadModel(base, { threads: 1, adapter: out })
    try {
      expect(relError(await adapted.logits(ids), await plain.logits(ids))).toBeGreaterThan(1e-4)
    } finally {
      plain.dispose()
      adapted.dispose()
    }
  })

  it('refuses what a GGUF base cannot give: full fine-tuning, --merge', async () => {
    const opts = { model: gguf('q8_0'), data: path.join(tmp, 'none.jsonl'), out: path.join(tmp, 'refused') }
    await expect(finetune({ ...opts, method: 'full' })).rejects.toThrow(
      /full fine-tuning trains a Hugging Face folder/,
    )
    await expect(finetune({ ...opts, merge: true })).rejects.toThrow(
      /merge writes the base with the adapter folded in/,
    )
  })
})
