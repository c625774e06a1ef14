// loadModel(base, { adapter }): a PEFT LoRA adapter applied at load without merging. Its logits are
// those of the merged model: PEFT's merge_and_unload for the golden llama adapter (from the folder
// and from GGUF files, whose q/k rows llama.cpp permutes), and kiln's own merge for a GPT-2 adapter
// with fan_in_fan_out (Conv1D weights, (in, out) in transformers files and (out, in) in GGUF).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { exportGguf } from '../../../src/core/export/to-gguf.js'
import { readLoraAdapter, writeLoraAdapter } from '../../../src/core/formats/peft.js'
import { asFloat32, openSafetensors } from '../../../src/core/formats/safetensors.js'
import { type LoadOptions, loadModel } from '../../../src/core/runtime/model.js'
import { openModelSource } from '../../../src/core/runtime/model-source.js'
import { Scheduler } from '../../../src/core/runtime/scheduler.js'
import { writeMergedModel } from '../../../src/core/train/outputs.js'
import { makeTempDir, removeTempDirs } from '../../helpers/cli.js'
import { golden } from '../../helpers/fixtures.js'

afterAll(() => removeTempDirs())

const lora = golden('lora')
const trained = path.join(lora, 'adapter_after_5_steps')
const batch = JSON.parse(readFileSync(path.join(lora, 'golden.json'), 'utf8')) as {
  input_ids: number[][]
  attention_mask: number[][]
}

async function logitsOf(model: string, opts: LoadOptions, ids: number[]): Promise<Float32Array> {
  const m = loadModel(model, { threads: 2, ...opts })
  try {
    return await m.logits(ids)
  } finally {
    m.dispose()
  }
}

/** max |got − want| over max(1, max |want|): the golden tests' relative measure for logits. */
function logitError(got: Float32Array, want: Float32Array): number {
  let diff = 0
  let scale = 1
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]))
    scale = Math.max(scale, Math.abs(want[i]))
  }
  return diff / scale
}

describe('the golden llama adapter (PEFT) applied at load', () => {
  const merged = asFloat32(
    openSafetensors(path.join(lora, 'merged_logits.safetensors')).tensors.get('merged_logits')!,
  )
  const T = batch.input_ids[0].length
  const wantFor = (b: number, n: number, V: number) => merged.subarray(b * T * V, (b * T + n) * V)

  async function check(model: string, opts: LoadOptions): Promise<void> {
    const V = openModelSource(golden('llama-tiny')).config.vocabSize
    for (let b = 0; b < batch.input_ids.length; b++) {
      // Padded positions are not compared: the reference masks them out.
      const n = batch.attention_mask[b].reduce((s, m) => s + m, 0)
      const got = await logitsOf(model, { ...opts, adapter: trained }, batch.input_ids[b].slice(0, n))
      expect(got.length).toBe(n * V)
      expect(logitError(got, wantFor(b, n, V))).toBeLessThanOrEqual(1e-4)
    }
  }

  it('gives the merged model’s logits (cpu and ref kernels)', async () => {
    await check(golden('llama-tiny'), {})
    await check(golden('llama-tiny'), { backend: 'ref' })
  })

  it('gives them over a GGUF base too, whose q and k rows are permuted', async () => {
    const file = path.join(makeTempDir(), 'llama-tiny.gguf')
    exportGguf(golden('llama-tiny'), file, { dtype: 'f32' })
    await check(file, {})
  })

  it('changes the base’s logits, and loadModel reports the adapter', async () => {
    const ids = batch.input_ids[0].slice(0, 8)
    const base = await logitsOf(golden('llama-tiny'), {}, ids)
    const m = loadModel(golden('llama-tiny'), { threads: 1, adapter: trained })
    try {
      expect(m.adapter).toBe(trained)
      expect(logitError(await m.logits(ids), base)).toBeGreaterThan(1e-3)
    } finally {
      m.dispose()
    }
  })
})

// A seeded adapter for gpt2-tiny on c_attn, attn.c_proj and mlp.c_fc, saved as PEFT saves GPT-2
// adapters: GPT2LMHeadModel module names and fan_in_fan_out.
function gpt2Adapter(dir: string): string {
  let s = 7
  const rand = (n: number, a: number) =>
    Float32Array.from({ length: n }, () => {
      s = (s * 1103515245 + 12345) >>> 0
      return ((s >>> 8) / (1 << 24) - 0.5) * 2 * a
    })
  const r = 4
  const modules = new Map<
    string,
    { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number }
  >()
  const add = (module: string, inFeatures: number, outFeatures: number) =>
    modules.set(module, {
      a: rand(r * inFeatures, 0.2),
      b: rand(outFeatures * r, 0.2),
      inFeatures,
      outFeatures,
    })
  for (let l = 0; l < 2; l++) {
    add(`transformer.h.${l}.attn.c_attn`, 64, 192)
    add(`transformer.h.${l}.attn.c_proj`, 64, 64)
    add(`transformer.h.${l}.mlp.c_fc`, 64, 256)
  }
  mkdirSync(dir, { recursive: true })
  writeLoraAdapter(dir, {
    rank: r,
    alpha: 8,
    dropout: 0,
    targetModules: ['c_attn', 'c_proj', 'c_fc'],
    baseModel: 'gpt2-tiny',
    modules,
  })
  const cfgFile = path.join(dir, 'adapter_config.json')
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8'))
  writeFileSync(cfgFile, JSON.stringify({ ...cfg, fan_in_fan_out: true }))
  return dir
}

describe('a GPT-2 adapter (fan_in_fan_out, Conv1D weights)', () => {
  it('gives the logits of the base with the adapter merged in, from the folder and from GGUF', async () => {
    const tmp = makeTempDir()
    const adapter = gpt2Adapter(path.join(tmp, 'adapter'))
    expect(readLoraAdapter(adapter).fanInFanOut).toBe(true)
    const merged = path.join(tmp, 'merged')
    writeMergedModel(merged, openModelSource(golden('gpt2-tiny')), readLoraAdapter(adapter), false)
    const ids = [5, 17, 200, 3, 99, 42, 1, 64, 128, 7]
    const want = await logitsOf(merged, {}, ids)
    const base = await logitsOf(golden('gpt2-tiny'), {}, ids)
    expect(logitError(base, want)).toBeGreaterThan(1e-2)
    expect(logitError(await logitsOf(golden('gpt2-tiny'), { adapter }, ids), want)).toBeLessThanOrEqual(1e-4)
    const file = path.join(tmp, 'gpt2-tiny.gguf')
    exportGguf(golden('gpt2-tiny'), file, { dtype: 'f32' })
    expect(logitError(await logitsOf(file, { adapter }, ids), want)).toBeLessThanOrEqual(1e-4)
  })
})

describe('adapters that do not fit the base', () => {
  it('refuses, in one line naming the adapter and the module', () => {
    const tmp = makeTempDir()
    const adapter = gpt2Adapter(path.join(tmp, 'gpt2-adapter'))
    expect(() => loadModel(golden('llama-tiny'), { adapter })).toThrow(
      /gpt2-adapter: adapter module "transformer\.h\.0\.attn\.c_attn" has no weight in the base model/,
    )
    expect(() => loadModel(golden('llama-tiny'), { adapter: path.join(tmp, 'none') })).toThrow(
      /none: no adapter_config\.json \(not a PEFT adapter folder\)/,
    )
  })

  it('refuses a module whose shapes differ from the base weight', () => {
    const dir = path.join(makeTempDir(), 'wide')
    const r = 2
    mkdirSync(dir, { recursive: true })
    writeLoraAdapter(dir, {
      rank: r,
      alpha: 4,
      dropout: 0,
      targetModules: ['q_proj'],
      baseModel: 'llama-tiny',
      modules: new Map([
        [
          'model.layers.0.self_attn.q_proj',
          { a: new Float32Array(r * 65), b: new Float32Array(64 * r), inFeatures: 65, outFeatures: 64 },
        ],
      ]),
    })
    expect(() => loadModel(golden('llama-tiny'), { adapter: dir })).toThrow(
      /wide: adapter module "model\.layers\.0\.self_attn\.q_proj" maps 65 → 64 features, the base's model\.layers\.0\.self_attn\.q_proj\.weight maps 64 → 64/,
    )
  })
})

describe('named adapters, chosen per request in one batch', () => {
  const prompts = ['Once upon a time', 'The cat sat', 'Hello there', 'One two three']

  async function greedy(opts: LoadOptions, adapters: (string | undefined)[]): Promise<number[][]> {
    const m = loadModel(golden('llama-tiny'), { threads: 2, ...opts })
    try {
      // generateMany takes one option set: each prompt goes through the scheduler with its adapter.
      const s = new Scheduler(m, { maxSeqs: prompts.length })
      try {
        const seqs = prompts.map((p, i) =>
          s.submit(p, { temperature: 0, maxNewTokens: 10, adapter: adapters[i] }, { index: i }),
        )
        return await Promise.all(seqs.map(async (q) => (await q.result).tokens))
      } finally {
        await s.close()
      }
    } finally {
      m.dispose()
    }
  }

  it('each row gets its own adapter (or none), as if run alone', async () => {
    const tmp = makeTempDir()
    // A second adapter: the trained one with B negated (same modules, other outputs).
    const second = path.join(tmp, 'negated')
    const first = readLoraAdapter(trained)
    mkdirSync(second, { recursive: true })
    writeLoraAdapter(second, {
      rank: first.rank,
      alpha: first.alpha,
      dropout: 0,
      targetModules: first.targetModules,
      baseModel: 'llama-tiny',
      modules: new Map([...first.modules].map(([k, p]) => [k, { ...p, b: p.b.map((x) => -x) }] as const)),
    })
    const named = { adapters: { trained, negated: second } }
    const mixed = await greedy(named, ['trained', undefined, 'negated', 'trained'])
    const alone = {
      trained: await greedy(
        { adapter: trained },
        prompts.map(() => undefined),
      ),
      negated: await greedy(
        { adapter: second },
        prompts.map(() => undefined),
      ),
      base: await greedy(
        {},
        prompts.map(() => undefined),
      ),
    }
    expect(mixed[0]).toEqual(alone.trained[0])
    expect(mixed[1]).toEqual(alone.base[1])
    expect(mixed[2]).toEqual(alone.negated[2])
    expect(mixed[3]).toEqual(alone.trained[3])
    expect(alone.trained[0]).not.toEqual(alone.base[0])
  })

  it('the prefix cache never hands one adapter’s keys and values to another', async () => {
    const long = 'the quick brown fox jumps over the lazy dog '.repeat(3)
    const run = async (s: Scheduler, adapter?: string) =>
      (await s.submit(long, { temperature: 0, maxNewTokens: 8, adapter }).result).tokens
    const m = loadModel(golden('llama-tiny'), { threads: 2, adapters: { trained } })
    try {
      const s = new Scheduler(m, { maxSeqs: 1 })
      const base = await run(s) // its full prompt blocks are now cached
      const adapted = await run(s, 'trained')
      const again = await run(s)
      expect(s.stats.prefixHits).toBeGreaterThan(0) // the base's second run hit its own blocks
      await s.close()
      const fresh = new Scheduler(m, { maxSeqs: 1, prefixCache: false })
      expect(adapted).toEqual(await run(fresh, 'trained'))
      expect(again).toEqual(base)
      await fresh.close()
    } finally {
      m.dispose()
    }
  })

  it('an adapter the model does not have is a usage error naming the option', async () => {
    const m = loadModel(golden('llama-tiny'), { threads: 1, adapters: { trained } })
    try {
      expect(m.adapterNames).toEqual(['trained'])
      const it = m.generate('Hi', { adapter: 'other', maxNewTokens: 2 })
      await expect(it.next()).rejects.toThrow(
        /adapter "other" is not one of the model's adapters \(trained\)/,
      )
    } finally {
      m.dispose()
    }
    expect(() => loadModel(golden('llama-tiny'), { adapter: trained, adapters: { trained } })).toThrow(
      /adapter and adapters cannot be combined/,
    )
  })
})
