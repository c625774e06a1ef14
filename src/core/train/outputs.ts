// What a training run leaves in OUT: a PEFT adapter (LoRA) or a Hugging Face model folder (full),
// each file written atomically; and `merge`, the base with an adapter folded in.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs'
import nodePath from 'node:path'
import { UsageError } from '../errors.js'
import { allocBits, convertBits, type FloatDType, toFloat32 } from '../formats/float.js'
import { type LoraAdapter, type LoraPair, writeLoraAdapter } from '../formats/peft.js'
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
      a: session.read(p.id),
      b: session.read(b.id),
      inFeatures: p.shape[1],
      outFeatures: b.shape[0],
    })
  }
  return modules
}

export function writeAdapterOut(out: string, session: TrainSession, lora: Required<LoraSettings>): void {
  writeLoraAdapter(out, {
    rank: lora.rank,
    alpha: lora.alpha,
    dropout: lora.dropout,
    targetModules: lora.target.length === 1 && lora.target[0] === 'all-linear' ? 'all-linear' : lora.target,
    baseModel: session.source.path,
    modules: loraModules(session),
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
  for (const module of adapter.modules.keys())
    if (!source.weights.has(`${module}.weight`))
      throw new UsageError(`${adapter.dir}: the base has no ${module}.weight for the adapter's module`)
  writeFolderAtomic(
    dir,
    (tmp) => {
      const tensors = modelTensors(source, (name) => {
        const lora = adapter.modules.get(name.replace(/\.weight$/, ''))
        if (!lora || !name.endsWith('.weight')) return undefined
        return mergedWeight(source.weights.get(name) as WeightView, lora, adapter.scale)
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

// W (out, in) + scale · B (out, r) · A (r, in), in f32; the product runs natively (matmul with A
// read as a (K, M) weight).
function mergedWeight(view: WeightView, lora: LoraPair, scale: number): Float32Array {
  const [M, K] = view.shape
  if (M !== lora.outFeatures || K !== lora.inFeatures)
    throw new UsageError(
      `${view.name} is [${view.shape}], the adapter's is [${lora.outFeatures}, ${lora.inFeatures}]`,
    )
  const r = lora.rank
  const b = lora.b.map((x) => x * scale)
  const delta = native().runOp(
    'cpu',
    { op: 'matmul', inputs: [0, 1, -1], output: 2, i: [1] },
    [
      { name: 'lora_B', dtype: 'f32', shape: [M, r], data: b },
      { name: 'lora_A', dtype: 'f32', shape: [r, K], data: lora.a },
      { name: 'delta', dtype: 'f32', shape: [M, K] },
    ],
    1,
  )
  const w = toFloat32(view)
  for (let i = 0; i < w.length; i++) w[i] += delta[i]
  return w
}
