// The golden LoRA run (test/fixtures/golden/lora, README there) as the training tests use it: PEFT's
// batch as ragged sequences, its AdamW settings, its tensors by PEFT name, and a session over a base
// that starts from PEFT's initial adapter.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { TrainSession } from '../../../src/core/train/train-session.js'
import type { TrainExample } from '../../../src/core/train/types.js'
import { golden as fixture } from '../../helpers/fixtures.js'

export const LORA = fixture('lora')
export const golden = JSON.parse(readFileSync(path.join(LORA, 'golden.json'), 'utf8'))
export const PEFT = 'base_model.model.'

export const ADAM = {
  lr: golden.optimizer.lr,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: golden.optimizer.weight_decay,
}

/** A safetensors file's tensors as f32, by name. */
export function tensors(file: string): Map<string, Float32Array> {
  const f = openSafetensors(file)
  return new Map([...f.tensors].map(([name, v]) => [name, asFloat32(v)]))
}

/** A file of the golden folder: adapter_init/…, grads_step0.safetensors, … */
export function loraFile(...parts: string[]): string {
  return path.join(LORA, ...parts)
}

/** The padded batch as ragged sequences: padding (mask 0) is dropped, not attended. */
export function batch(): TrainExample[] {
  return golden.input_ids.map((ids: number[], b: number) => {
    const T = golden.attention_mask[b].reduce((s: number, m: number) => s + m, 0)
    return { ids: ids.slice(0, T), labels: golden.labels[b].slice(0, T) }
  })
}

/** PEFT's LoRA (r 4, alpha 8, q/v/down) over `model`, starting from PEFT's initial adapter. */
export function goldenLoraSession(model: string, backend: 'cpu' | 'ref' = 'cpu'): TrainSession {
  const session = new TrainSession(openModelSource(model), {
    method: 'lora',
    lora: { rank: 4, alpha: 8, target: ['q_proj', 'v_proj', 'down_proj'] },
    maxRows: 64,
    threads: 2,
    backend,
  })
  const init = tensors(loraFile('adapter_init', 'adapter_model.safetensors'))
  for (const p of session.params) {
    const value = init.get(PEFT + p.name)
    if (!value) throw new Error(`the golden adapter has no ${p.name}`)
    session.writeParameter(p, value)
  }
  return session
}
