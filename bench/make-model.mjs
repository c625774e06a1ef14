// Builds the benchmark's random-weight llama (110M-class: hidden 768, 12 layers, 12 heads, 4 kv heads,
// intermediate 2048, vocab 32000) as a Hugging Face folder, in F32 or BF16. Cached under .bench/.
// BENCH_SHAPE_20M is the fine-tuning bench's small llama: hidden 384, 6 layers, 6 heads, 2 kv heads,
// intermediate 1024, vocab 14000, untied head: 20.2M parameters (10.8M of them the two vocab tables).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

export const BENCH_SHAPE = { C: 768, L: 12, NH: 12, NKV: 4, F: 2048, V: 32000, ctx: 2048 }
export const BENCH_SHAPE_20M = { C: 384, L: 6, NH: 6, NKV: 2, F: 1024, V: 14000, ctx: 2048 }

// Fast seeded uniform fill in [-a, a): weights only need to be finite and varied.
function fill(n, a, seed) {
  const out = new Float32Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * a
  }
  return out
}

export async function makeBenchModel(dtype, shape = BENCH_SHAPE, name = 'llama-110m') {
  const dir = path.join(root, '.bench', `${name}-${dtype}`)
  if (existsSync(path.join(dir, 'model.safetensors'))) return dir
  const { writeSafetensors } = await import(path.join(root, 'dist/core/formats/safetensors.js'))
  const { convertBits } = await import(path.join(root, 'dist/core/formats/float.js'))
  const toBf16 = (f) => {
    const out = new Uint16Array(f.length)
    convertBits(new Uint32Array(f.buffer, f.byteOffset, f.length), 'F32', out, 'BF16')
    return out
  }
  mkdirSync(dir, { recursive: true })
  const { C, L, NH, NKV, F, V, ctx } = shape
  const HS = C / NH
  const tensors = []
  let seed = 1
  const add = (name, shape, scale) => {
    const n = shape.reduce((a, b) => a * b, 1)
    const f = fill(n, scale, seed++)
    const is1d = shape.length === 1
    if (is1d) for (let i = 0; i < n; i++) f[i] += 1
    tensors.push(
      dtype === 'bf16'
        ? { name, shape, dtype: 'BF16', data: toBf16(f) }
        : { name, shape, dtype: 'F32', data: f },
    )
  }
  add('model.embed_tokens.weight', [V, C], 0.5)
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`
    add(`${p}.input_layernorm.weight`, [C], 0.05)
    add(`${p}.self_attn.q_proj.weight`, [NH * HS, C], 0.05)
    add(`${p}.self_attn.k_proj.weight`, [NKV * HS, C], 0.05)
    add(`${p}.self_attn.v_proj.weight`, [NKV * HS, C], 0.05)
    add(`${p}.self_attn.o_proj.weight`, [C, NH * HS], 0.05)
    add(`${p}.post_attention_layernorm.weight`, [C], 0.05)
    add(`${p}.mlp.gate_proj.weight`, [F, C], 0.05)
    add(`${p}.mlp.up_proj.weight`, [F, C], 0.05)
    add(`${p}.mlp.down_proj.weight`, [C, F], 0.03)
  }
  add('model.norm.weight', [C], 0.05)
  add('lm_head.weight', [V, C], 0.05)
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: V,
    hidden_size: C,
    intermediate_size: F,
    num_hidden_layers: L,
    num_attention_heads: NH,
    num_key_value_heads: NKV,
    hidden_act: 'silu',
    max_position_embeddings: ctx,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: dtype === 'bf16' ? 'bfloat16' : 'float32',
  }
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2))
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(path.join(root, 'models/default', f), path.join(dir, f))
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors)
  return dir
}
