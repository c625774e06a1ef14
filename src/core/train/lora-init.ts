// LoRA's starting point as PEFT's default (init_lora_weights=True): A from kaiming_uniform(a=√5),
// i.e. uniform in ±1/√in, and B zero, so the adapter starts as the identity. Seeded: a run's seed
// gives the same adapter on every machine.
import { Rng } from '../runtime/rng.js'
import type { Parameter } from './train-graph-builder.js'

export function initLora(params: readonly Parameter[], seed: number): Map<Parameter, Float32Array> {
  const rng = new Rng(seed)
  const out = new Map<Parameter, Float32Array>()
  for (const p of params) {
    const data = new Float32Array(p.shape[0] * p.shape[1])
    if (p.name.endsWith('.lora_A.weight')) {
      const bound = 1 / Math.sqrt(p.shape[1])
      for (let i = 0; i < data.length; i++) data[i] = (rng.uniform() * 2 - 1) * bound
    }
    out.set(p, data)
  }
  return out
}
