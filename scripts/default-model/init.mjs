// The seeded starting point of the default model: a Hugging Face llama folder whose weights are
// GPT-2-style random (normal, std 0.02; the projections back into the residual stream scaled by
// 1/sqrt(2·layers)), norms at one. Normal-ish noise from arithmetic only (Irwin–Hall: the sum of 12
// uniforms − 6), so the bytes do not depend on the platform's Math.log/Math.cos.
import { writeFileSync } from 'node:fs'
import path from 'node:path'

export const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']

// The chat template the server and chat tests rely on (ChatML, as before).
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

const json = (o) => `${JSON.stringify(o, null, 2)}\n`

/**
 * Writes config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
 * chat_template.jinja and model.safetensors into `dir`. `shape`: { layers, hidden, heads, kvHeads,
 * intermediate, maxPositions }; `lib`: kiln's dist modules { writeSafetensors, Rng }.
 */
export function writeInit(dir, tokenizerJson, shape, seed, lib) {
  const V = Object.keys(tokenizerJson.model.vocab).length
  const eos = tokenizerJson.model.vocab['<|endoftext|>']
  const imEnd = tokenizerJson.model.vocab['<|im_end|>']
  const { layers: L, hidden: C, heads: NH, kvHeads: NKV, intermediate: F } = shape
  const HS = C / NH
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: V,
    hidden_size: C,
    intermediate_size: F,
    num_hidden_layers: L,
    num_attention_heads: NH,
    num_key_value_heads: NKV,
    head_dim: HS,
    hidden_act: 'silu',
    max_position_embeddings: shape.maxPositions,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    tie_word_embeddings: false,
    attention_bias: false,
    bos_token_id: eos,
    eos_token_id: eos,
    torch_dtype: 'float32',
  }

  const rng = new lib.Rng(seed)
  const randn = (n, std) => {
    const a = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      let s = -6
      for (let k = 0; k < 12; k++) s += rng.uniform()
      a[i] = s * std
    }
    return a
  }
  const ones = (n) => new Float32Array(n).fill(1)
  const std = 0.02
  const residualStd = std / Math.sqrt(2 * L)
  const tensors = []
  const add = (name, shape, data) => tensors.push({ name, dtype: 'F32', shape, data })
  add('model.embed_tokens.weight', [V, C], randn(V * C, std)) // (V, C)
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`
    add(`${p}.input_layernorm.weight`, [C], ones(C))
    add(`${p}.self_attn.q_proj.weight`, [NH * HS, C], randn(NH * HS * C, std))
    add(`${p}.self_attn.k_proj.weight`, [NKV * HS, C], randn(NKV * HS * C, std))
    add(`${p}.self_attn.v_proj.weight`, [NKV * HS, C], randn(NKV * HS * C, std))
    add(`${p}.self_attn.o_proj.weight`, [C, NH * HS], randn(C * NH * HS, residualStd))
    add(`${p}.post_attention_layernorm.weight`, [C], ones(C))
    add(`${p}.mlp.gate_proj.weight`, [F, C], randn(F * C, std))
    add(`${p}.mlp.up_proj.weight`, [F, C], randn(F * C, std))
    add(`${p}.mlp.down_proj.weight`, [C, F], randn(C * F, residualStd))
  }
  add('model.norm.weight', [C], ones(C))
  add('lm_head.weight', [V, C], randn(V * C, std)) // (V, C)

  writeFileSync(path.join(dir, 'config.json'), json(config))
  writeFileSync(
    path.join(dir, 'generation_config.json'),
    json({
      bos_token_id: eos,
      eos_token_id: [eos, imEnd],
      do_sample: true,
      temperature: 0.8,
      max_new_tokens: 48,
    }),
  )
  writeFileSync(path.join(dir, 'tokenizer.json'), json(tokenizerJson))
  writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    json({
      bos_token: null,
      eos_token: '<|endoftext|>',
      model_max_length: shape.maxPositions,
      tokenizer_class: 'PreTrainedTokenizerFast',
    }),
  )
  writeFileSync(path.join(dir, 'chat_template.jinja'), CHAT_TEMPLATE)
  lib.writeSafetensors(path.join(dir, 'model.safetensors'), tensors, {
    format: 'pt',
    generator: 'kiln scripts/make-default-model.mjs (seeded initialisation)',
  })
  return config
}
