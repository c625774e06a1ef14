// What a training run leaves in OUT: a PEFT adapter (LoRA) or a Hugging Face model folder (full),
// each file written atomically; and `merge`, the base with an adapter folded in.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs'
import nodePath from 'node:path'
import { UsageError } from '../errors.js'
import { allocBits, convertBits, type FloatDType, toFloat32 } from '../formats/float.js'
import { baseWeightName, type LoraAdapter, type LoraPair, writeLoraAdapter } from '../formats/peft.js'
import type { TensorToWrite } from '../formats/safetensors-types.js'
import { writeSafetensors } from '../formats/safetensors-write.js'
import { MODEL_SIDECARS } from '../models/sidecar-files.js'
import type { WeightView } from '../models/weights.js'
import { native } from '../native.js'
import type { ModelSource } from '../runtime/model-source.js'
import { writeFolderAtomic } from '../util/folder-write.js'
import type { LoraSettings, TrainSession } from './train-session.js'

/** The session's LoRA tensors by module path. */
export function loraModules(session: TrainSession) {
  const modules = new Map<
    string,
    { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number }
  >()
  for (const p of session.params) {
    const m = /^(.+)\.lora_A\.weight$/.exec(p.name)
    if (!m) continue
    const b = session.params.find((q) => q.name === `${m[1]}.lora_B.weight`)
    if (!b) continue
    modules.set(m[1], {
      a: session.readParameter(p),
      b: session.readParameter(b),
      inFeatures: p.shape[1],
      outFeatures: b.shape[0],
    })
  }
  return modules
}

export function writeAdapterOut(out: string, session: TrainSession, lora: Required<LoraSettings>): void {
  // GPT-2: PEFT wraps GPT2LMHeadModel, whose modules are transformer.h.…, over Conv1D weights.
  const gpt2 = session.source.config.architecture === 'gpt2'
  const modules = loraModules(session)
  writeLoraAdapter(out, {
    rank: lora.rank,
    alpha: lora.alpha,
    dropout: lora.dropout,
    targetModules: lora.target.length === 1 && lora.target[0] === 'all-linear' ? 'all-linear' : lora.target,
    baseModel: session.source.path,
    fanInFanOut: gpt2,
    modules: gpt2
      ? new Map([...modules].map(([m, v]) => [m.startsWith('transformer.') ? m : `transformer.${m}`, v]))
      : modules,
  })
}

// f32 values as the dtype the checkpoint stored them in (bf16 stays bf16), rounding to nearest even.
function stored(name: string, values: Float32Array, view: WeightView): TensorToWrite {
  const dtype = view.dtype as FloatDType
  if (dtype === 'F32') return { name, dtype, shape: view.shape, data: values }
  const bits = allocBits(dtype, values.length)
  convertBits(new Uint32Array(values.buffer, values.byteOffset, values.length), 'F32', bits, dtype)
  return { name, dtype, shape: view.shape, data: bits }
}

function copySidecars(source: ModelSource, dir: string): void {
  for (const f of ['config.json', ...MODEL_SIDECARS]) {
    const from = nodePath.join(source.path, f)
    if (existsSync(from)) copyFileSync(from, nodePath.join(dir, f))
  }
}

/** Every checkpoint tensor: the values given for some, the stored bytes for the rest. */
function modelTensors(
  source: ModelSource,
  values: (name: string) => Float32Array | undefined,
): TensorToWrite[] {
  return [...source.weights].map(([name, view]) => {
    const v = values(name)
    return v
      ? stored(name, v, view)
      : { name, dtype: view.dtype as FloatDType, shape: view.shape, data: view.data }
  })
}

/** Full fine-tuning: the trained weights, in their stored dtypes, as a model folder in OUT. */
export function writeModelOut(out: string, session: TrainSession): void {
  const source = session.source
  const trained = new Map(session.params.map((p) => [p.name, p]))
  const tensors = modelTensors(source, (name) => {
    const p = trained.get(name)
    return p ? session.read(p.id) : undefined
  })
  writeSafetensors(nodePath.join(out, 'model.safetensors'), tensors, { format: 'pt' })
  copySidecars(source, out)
}

/**
 * The base model with the adapter folded in (W + scale · B·A for each adapted module), as a new
 * model folder `dir`, complete or not at all.
 */
export function writeMergedModel(
  dir: string,
  source: ModelSource,
  adapter: LoraAdapter,
  replace: boolean,
): void {
  if (source.format !== 'safetensors')
    throw new UsageError(`${source.path}: merging writes a Hugging Face folder and needs one as the base`)
  const byWeight = new Map<string, LoraPair>()
  for (const [module, pair] of adapter.modules) {
    const name = baseWeightName(module, (n) => source.weights.has(n))
    if (name === undefined)
      throw new UsageError(`${adapter.dir}: the base has no ${module}.weight for the adapter's module`)
    byWeight.set(name, pair)
  }
  writeFolderAtomic(
    dir,
    (tmp) => {
      const tensors = modelTensors(source, (name) => {
        const lora = byWeight.get(name)
        if (!lora) return undefined
        return mergedWeight(source.weights.get(name) as WeightView, lora, adapter.scale, adapter.fanInFanOut)
      })
      writeSafetensors(nodePath.join(tmp, 'model.safetensors'), tensors, { format: 'pt' })
      copySidecars(source, tmp)
      writeFileSync(
        nodePath.join(tmp, 'kiln_merge.json'),
        `${JSON.stringify({ adapter: adapter.dir }, null, 2)}\n`,
      )
    },
    { replace },
  )
}

// W (out, in) + scale · B (out, r) · A (r, in), in f32; a fan_in_fan_out base (GPT-2's Conv1D)
// stores W (in, out) and gets the transposed product Aᵀ·Bᵀ. The product runs natively.
function mergedWeight(view: WeightView, lora: LoraPair, scale: number, fanInFanOut: boolean): Float32Array {
  const [M, K] = fanInFanOut ? [view.shape[1], view.shape[0]] : view.shape
  if (M !== lora.outFeatures || K !== lora.inFeatures)
    throw new UsageError(
      `${view.name} is [${view.shape}], the adapter's is [${fanInFanOut ? [lora.inFeatures, lora.outFeatures] : [lora.outFeatures, lora.inFeatures]}]`,
    )
  const r = lora.rank
  const b = lora.b.map((x) => x * scale)
  const matmul = (x: Float32Array, xShape: number[], w: Float32Array, wShape: number[], wKxM: boolean) =>
    native().runOp(
      'cpu',
      { op: 'matmul', inputs: [0, 1, -1], output: 2, i: [wKxM ? 1 : 0] },
      [
        { name: 'x', dtype: 'f32', shape: xShape, data: x },
        { name: 'w', dtype: 'f32', shape: wShape, data: w },
        { name: 'delta', dtype: 'f32', shape: [xShape[0], wKxM ? wShape[1] : wShape[0]] },
      ],
      1,
    )
  const delta = fanInFanOut
    ? matmul(transposed(lora.a, r, K), [K, r], b, [M, r], false) // (in, out)
    : matmul(b, [M, r], lora.a, [r, K], true) // (out, in)
  const w = toFloat32(view)
  for (let i = 0; i < w.length; i++) w[i] += delta[i]
  return w
}

function transposed(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]
  return t
}
