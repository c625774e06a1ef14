// Random-weight Hugging Face model folders (llama, qwen2, GPT-2) with chosen widths, for tests that
// need shapes the golden fixtures lack (K-quants want rows of whole 256-element super-blocks; the
// fixtures' hidden size is 64). Each borrows a golden fixture's tokenizer and config defaults, and
// its weights are seeded: the same spec and seed write the same bytes on every run.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { writeSafetensors } from '../../src/core/formats/safetensors.js'
import { golden, readJson } from './fixtures.js'
import { mulberry32 } from './numbers.js'

export interface RandomModelSpec {
  /** The golden fixture whose tokenizer, prompts and config defaults the model borrows. */
  fixture: 'llama-tiny' | 'qwen2-tiny' | 'gpt2-tiny'
  hidden: number
  intermediate: number
  layers: number
  heads: number
  kvHeads: number
  headDim: number
  /** Head tied to the token embedding (no lm_head.weight). GPT-2 is always tied. */
  tied: boolean
  /** q/k/v biases (qwen2). */
  bias: boolean
}

type Add = (name: string, shape: number[], std: number, mean?: number) => void

/**
 * Writes an F32 model folder for `spec` at `dir` (created) with the fixture's tokenizer files.
 * Weights are uniform with variance ~1/fan_in (times a gain), so activations neither vanish nor
 * blow up.
 */
export function writeRandomModel(dir: string, spec: RandomModelSpec, seed: number): string {
  mkdirSync(dir, { recursive: true })
  const base = readJson<Record<string, unknown>>(path.join(golden(spec.fixture), 'config.json'))
  const rand = mulberry32(seed)
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[] = []
  const add: Add = (n, shape, std, mean = 0) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1))
    for (let i = 0; i < data.length; i++) data[i] = mean + (rand() * 2 - 1) * std * Math.sqrt(3)
    tensors.push({ name: n, dtype: 'F32', shape, data })
  }
  const config = spec.fixture === 'gpt2-tiny' ? addGpt2(spec, base, add) : addLlama(spec, base, add)
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors)
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2))
  for (const f of [
    'tokenizer.json',
    'tokenizer_config.json',
    'generation_config.json',
    'chat_template.jinja',
  ]) {
    const src = path.join(golden(spec.fixture), f)
    if (existsSync(src)) copyFileSync(src, path.join(dir, f))
  }
  return dir
}

/** GPT-2's tensors (Conv1D weights stored (in, out)) and config. */
function addGpt2(spec: RandomModelSpec, base: Record<string, unknown>, add: Add): Record<string, unknown> {
  const { hidden: C, intermediate: F } = spec
  add('transformer.wte.weight', [base.vocab_size as number, C], 1)
  add('transformer.wpe.weight', [base.n_positions as number, C], 0.3)
  for (let l = 0; l < spec.layers; l++) {
    const p = `transformer.h.${l}`
    add(`${p}.ln_1.weight`, [C], 0.1, 1)
    add(`${p}.ln_1.bias`, [C], 0.1)
    add(`${p}.attn.c_attn.weight`, [C, 3 * C], 1 / Math.sqrt(C))
    add(`${p}.attn.c_attn.bias`, [3 * C], 0.1)
    add(`${p}.attn.c_proj.weight`, [C, C], 1 / Math.sqrt(C))
    add(`${p}.attn.c_proj.bias`, [C], 0.1)
    add(`${p}.ln_2.weight`, [C], 0.1, 1)
    add(`${p}.ln_2.bias`, [C], 0.1)
    add(`${p}.mlp.c_fc.weight`, [C, F], 1 / Math.sqrt(C))
    add(`${p}.mlp.c_fc.bias`, [F], 0.1)
    add(`${p}.mlp.c_proj.weight`, [F, C], 1 / Math.sqrt(F))
    add(`${p}.mlp.c_proj.bias`, [C], 0.1)
  }
  add('transformer.ln_f.weight', [C], 0.1, 1)
  add('transformer.ln_f.bias', [C], 0.1)
  return { ...base, n_embd: C, n_inner: F, n_layer: spec.layers, n_head: spec.heads }
}

/** llama / qwen2 tensors and config. */
function addLlama(spec: RandomModelSpec, base: Record<string, unknown>, add: Add): Record<string, unknown> {
  const vocab = base.vocab_size as number
  const { hidden: C, intermediate: F, heads: NH, kvHeads: NKV, headDim: HS } = spec
  add('model.embed_tokens.weight', [vocab, C], 1)
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`
    add(`${p}.input_layernorm.weight`, [C], 0.1, 1)
    add(`${p}.self_attn.q_proj.weight`, [NH * HS, C], 1 / Math.sqrt(C))
    add(`${p}.self_attn.k_proj.weight`, [NKV * HS, C], 1 / Math.sqrt(C))
    add(`${p}.self_attn.v_proj.weight`, [NKV * HS, C], 1 / Math.sqrt(C))
    if (spec.bias) {
      add(`${p}.self_attn.q_proj.bias`, [NH * HS], 0.1)
      add(`${p}.self_attn.k_proj.bias`, [NKV * HS], 0.1)
      add(`${p}.self_attn.v_proj.bias`, [NKV * HS], 0.1)
    }
    add(`${p}.self_attn.o_proj.weight`, [C, NH * HS], 1 / Math.sqrt(NH * HS))
    add(`${p}.post_attention_layernorm.weight`, [C], 0.1, 1)
    add(`${p}.mlp.gate_proj.weight`, [F, C], 1 / Math.sqrt(C))
    add(`${p}.mlp.up_proj.weight`, [F, C], 1 / Math.sqrt(C))
    add(`${p}.mlp.down_proj.weight`, [C, F], 1 / Math.sqrt(F))
  }
  add('model.norm.weight', [C], 0.1, 1)
  // A head of std 8/√C gives logits of std ~8 (a tied head of std 1, ~√C): peaked enough that
  // greedy decoding is not a coin toss between near-equal logits.
  if (!spec.tied) add('lm_head.weight', [vocab, C], 8 / Math.sqrt(C))
  const config: Record<string, unknown> = {
    ...base,
    hidden_size: C,
    intermediate_size: F,
    num_hidden_layers: spec.layers,
    num_attention_heads: NH,
    num_key_value_heads: NKV,
    head_dim: HS,
    tie_word_embeddings: spec.tied,
  }
  if (Array.isArray(base.layer_types)) config.layer_types = new Array(spec.layers).fill('full_attention')
  return config
}
