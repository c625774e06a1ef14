// A GGUF file's tensors under the Hugging Face names the model builders ask for (the inverse of
// src/core/export/gguf-tensors.ts), plus how the file lays them out: llama.cpp stores GPT-2's Conv1D
// weights (out, in) and permutes llama q/k rows for interleaved rope; qwen2 files are not permuted.
import type { GgufFile } from '../formats/gguf-read.js'
import type { Architecture } from './config.js'
import type { WeightLayout, WeightView } from './weights.js'

const LLAMA_GLOBALS: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
}
const LLAMA_BLOCK: Record<string, string> = {
  attn_norm: 'input_layernorm',
  ffn_norm: 'post_attention_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
}
const GPT2_GLOBALS: Record<string, string> = {
  'token_embd.weight': 'wte.weight',
  'position_embd.weight': 'wpe.weight',
  'output_norm.weight': 'ln_f.weight',
  'output_norm.bias': 'ln_f.bias',
  'output.weight': 'lm_head.weight',
}
const GPT2_BLOCK: Record<string, string> = {
  attn_norm: 'ln_1',
  ffn_norm: 'ln_2',
  attn_qkv: 'attn.c_attn',
  attn_output: 'attn.c_proj',
  ffn_up: 'mlp.c_fc',
  ffn_down: 'mlp.c_proj',
}

/** The Hugging Face name of a GGUF tensor, or undefined for tensors the builders do not read. */
export function hfTensorName(arch: Architecture, gguf: string): string | undefined {
  const gpt2 = arch === 'gpt2'
  const globals = gpt2 ? GPT2_GLOBALS : LLAMA_GLOBALS
  if (globals[gguf]) return globals[gguf]
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(gguf)
  if (!m) return undefined
  const part = (gpt2 ? GPT2_BLOCK : LLAMA_BLOCK)[m[2]]
  if (!part) return undefined
  return gpt2 ? `h.${m[1]}.${part}.${m[3]}` : `model.layers.${m[1]}.${part}.${m[3]}`
}

export function ggufWeightViews(file: GgufFile, arch: Architecture): Map<string, WeightView> {
  const views = new Map<string, WeightView>()
  for (const t of file.tensors.values()) {
    const name = hfTensorName(arch, t.name)
    if (name) views.set(name, { name, dtype: t.type, shape: t.shape, data: t.data, file: file.path })
  }
  return views
}

export function ggufWeightLayout(arch: Architecture): WeightLayout {
  return { conv1dTransposed: arch === 'gpt2', ropeInterleaved: arch === 'llama' || arch === 'mistral' }
}
