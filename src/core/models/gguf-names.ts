// The one table of Hugging Face ↔ GGUF (llama.cpp) tensor names, read both ways: the GGUF reader
// offers a file's tensors under HF names (gguf-weights.ts), the exporter names a checkpoint's
// tensors for llama.cpp (export/gguf-tensors.ts). See reference FORMATS.md, "tensor names".
import type { Architecture } from './config.js'

/** How llama.cpp's converter stores a tensor differently from transformers. */
export type GgufStoredLayout =
  /** q rows permuted for interleaved rope, per attention head (llama and mistral files only). */
  | 'permute-q'
  /** k rows permuted likewise, per key/value head. */
  | 'permute-k'
  /** A GPT-2 Conv1D weight, (in, out) in transformers, stored (out, in). */
  | 'transpose'

export interface TensorNamePair {
  /** `{i}` stands for the layer index. */
  hf: string
  gguf: string
  layout?: GgufStoredLayout
  /** llama.cpp refuses a file without it (`output` only when the head is not tied); checked on export. */
  required?: true
}

// biome-ignore format: a table reads best one pair a line
const LLAMA_NAMES: readonly TensorNamePair[] = [
  { hf: 'model.embed_tokens.weight', gguf: 'token_embd.weight', required: true },
  { hf: 'model.norm.weight', gguf: 'output_norm.weight', required: true },
  { hf: 'lm_head.weight', gguf: 'output.weight', required: true },
  { hf: 'lm_head.bias', gguf: 'output.bias' },
  { hf: 'model.layers.{i}.input_layernorm.weight', gguf: 'blk.{i}.attn_norm.weight', required: true },
  { hf: 'model.layers.{i}.self_attn.q_proj.weight', gguf: 'blk.{i}.attn_q.weight', layout: 'permute-q', required: true },
  { hf: 'model.layers.{i}.self_attn.q_proj.bias', gguf: 'blk.{i}.attn_q.bias', layout: 'permute-q' },
  { hf: 'model.layers.{i}.self_attn.k_proj.weight', gguf: 'blk.{i}.attn_k.weight', layout: 'permute-k', required: true },
  { hf: 'model.layers.{i}.self_attn.k_proj.bias', gguf: 'blk.{i}.attn_k.bias', layout: 'permute-k' },
  { hf: 'model.layers.{i}.self_attn.v_proj.weight', gguf: 'blk.{i}.attn_v.weight', required: true },
  { hf: 'model.layers.{i}.self_attn.v_proj.bias', gguf: 'blk.{i}.attn_v.bias' },
  { hf: 'model.layers.{i}.self_attn.o_proj.weight', gguf: 'blk.{i}.attn_output.weight', required: true },
  { hf: 'model.layers.{i}.self_attn.o_proj.bias', gguf: 'blk.{i}.attn_output.bias' },
  { hf: 'model.layers.{i}.post_attention_layernorm.weight', gguf: 'blk.{i}.ffn_norm.weight', required: true },
  { hf: 'model.layers.{i}.mlp.gate_proj.weight', gguf: 'blk.{i}.ffn_gate.weight', required: true },
  { hf: 'model.layers.{i}.mlp.gate_proj.bias', gguf: 'blk.{i}.ffn_gate.bias' },
  { hf: 'model.layers.{i}.mlp.up_proj.weight', gguf: 'blk.{i}.ffn_up.weight', required: true },
  { hf: 'model.layers.{i}.mlp.up_proj.bias', gguf: 'blk.{i}.ffn_up.bias' },
  { hf: 'model.layers.{i}.mlp.down_proj.weight', gguf: 'blk.{i}.ffn_down.weight', required: true },
  { hf: 'model.layers.{i}.mlp.down_proj.bias', gguf: 'blk.{i}.ffn_down.bias' },
]

// GPT-2 names without GPT2LMHeadModel's "transformer." prefix (GPT2Model checkpoints have none).
// biome-ignore format: a table reads best one pair a line
const GPT2_NAMES: readonly TensorNamePair[] = [
  { hf: 'wte.weight', gguf: 'token_embd.weight', required: true },
  { hf: 'wpe.weight', gguf: 'position_embd.weight', required: true },
  { hf: 'ln_f.weight', gguf: 'output_norm.weight', required: true },
  { hf: 'ln_f.bias', gguf: 'output_norm.bias', required: true },
  { hf: 'lm_head.weight', gguf: 'output.weight', required: true },
  { hf: 'h.{i}.ln_1.weight', gguf: 'blk.{i}.attn_norm.weight', required: true },
  { hf: 'h.{i}.ln_1.bias', gguf: 'blk.{i}.attn_norm.bias', required: true },
  { hf: 'h.{i}.attn.c_attn.weight', gguf: 'blk.{i}.attn_qkv.weight', layout: 'transpose', required: true },
  { hf: 'h.{i}.attn.c_attn.bias', gguf: 'blk.{i}.attn_qkv.bias', required: true },
  { hf: 'h.{i}.attn.c_proj.weight', gguf: 'blk.{i}.attn_output.weight', layout: 'transpose', required: true },
  { hf: 'h.{i}.attn.c_proj.bias', gguf: 'blk.{i}.attn_output.bias', required: true },
  { hf: 'h.{i}.ln_2.weight', gguf: 'blk.{i}.ffn_norm.weight', required: true },
  { hf: 'h.{i}.ln_2.bias', gguf: 'blk.{i}.ffn_norm.bias', required: true },
  { hf: 'h.{i}.mlp.c_fc.weight', gguf: 'blk.{i}.ffn_up.weight', layout: 'transpose', required: true },
  { hf: 'h.{i}.mlp.c_fc.bias', gguf: 'blk.{i}.ffn_up.bias', required: true },
  { hf: 'h.{i}.mlp.c_proj.weight', gguf: 'blk.{i}.ffn_down.weight', layout: 'transpose', required: true },
  { hf: 'h.{i}.mlp.c_proj.bias', gguf: 'blk.{i}.ffn_down.bias', required: true },
]

/** Every architecture's name pairs: llama, mistral and qwen2 share llama's names. */
export const GGUF_TENSOR_NAMES: Readonly<Record<Architecture, readonly TensorNamePair[]>> = {
  llama: LLAMA_NAMES,
  mistral: LLAMA_NAMES,
  qwen2: LLAMA_NAMES,
  gpt2: GPT2_NAMES,
}

/** HF tensors that are buffers, not weights: llama.cpp has no tensor for them. */
const HF_BUFFERS: Readonly<Record<Architecture, readonly string[]>> = {
  llama: ['model.layers.{i}.self_attn.rotary_emb.inv_freq'],
  mistral: ['model.layers.{i}.self_attn.rotary_emb.inv_freq'],
  qwen2: ['model.layers.{i}.self_attn.rotary_emb.inv_freq'],
  gpt2: ['h.{i}.attn.bias', 'h.{i}.attn.masked_bias'], // causal masks
}

/**
 * Whether llama.cpp's files permute q/k rows for its interleaved rope: llama and mistral yes;
 * qwen2 runs NEOX-style rope on the rows as transformers has them.
 */
export function ggufPermutesQK(arch: Architecture): boolean {
  return arch === 'llama' || arch === 'mistral'
}

/** A concrete name as its table key: the first dotted number (the layer index) becomes `{i}`. */
function templateOf(name: string): { key: string; layer?: number } {
  const m = /\.(\d+)\./.exec(name)
  if (!m) return { key: name }
  return { key: `${name.slice(0, m.index)}.{i}.${name.slice(m.index + m[0].length)}`, layer: Number(m[1]) }
}

function fill(template: string, layer: number | undefined): string {
  return layer === undefined ? template : template.replace('{i}', String(layer))
}

type NameIndex = Readonly<Record<Architecture, ReadonlyMap<string, TensorNamePair>>>

function indexBy(side: 'hf' | 'gguf'): NameIndex {
  const entries = Object.entries(GGUF_TENSOR_NAMES).map(([arch, pairs]) => [
    arch,
    new Map(pairs.map((p) => [p[side], p])),
  ])
  return Object.fromEntries(entries)
}

const BY_HF = indexBy('hf')
const BY_GGUF = indexBy('gguf')

/** The Hugging Face name of a GGUF tensor, or undefined for tensors the builders do not read. */
export function hfNameOfGguf(arch: Architecture, gguf: string): string | undefined {
  const { key, layer } = templateOf(gguf)
  const pair = BY_GGUF[arch].get(key)
  return pair && fill(pair.hf, layer)
}

/** What llama.cpp calls a checkpoint tensor (GPT-2's may carry "transformer."). */
export type GgufNameOfHf =
  | { gguf: string; pair: TensorNamePair }
  /** A buffer, not a weight: nothing to write. */
  | 'buffer'
  /** No llama.cpp equivalent. */
  | undefined

export function ggufNameOfHf(arch: Architecture, hf: string): GgufNameOfHf {
  const name = arch === 'gpt2' && hf.startsWith('transformer.') ? hf.slice('transformer.'.length) : hf
  const { key, layer } = templateOf(name)
  const pair = BY_HF[arch].get(key)
  if (pair) return { gguf: fill(pair.gguf, layer), pair }
  return HF_BUFFERS[arch].includes(key) ? 'buffer' : undefined
}

/** The GGUF names llama.cpp needs in a model of `numLayers` layers, output.weight only if untied. */
export function requiredGgufNames(arch: Architecture, numLayers: number, tiedHead: boolean): string[] {
  const need: string[] = []
  const perLayer: string[] = []
  for (const p of GGUF_TENSOR_NAMES[arch]) {
    if (!p.required || (tiedHead && p.gguf === 'output.weight')) continue
    if (p.gguf.includes('{i}')) perLayer.push(p.gguf)
    else need.push(p.gguf)
  }
  for (let l = 0; l < numLayers; l++) for (const t of perLayer) need.push(fill(t, l))
  return need
}
