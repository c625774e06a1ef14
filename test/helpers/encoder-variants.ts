// bert-tiny rewritten as the other encoder families and with other heads, for tests that prove a
// family by equivalence (the same network under RoBERTa's or DistilBERT's names and conventions
// gives the same hidden states) and for pipelines that need a head the golden fixture lacks
// (token classification, masked LM), with seeded random head weights.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { asFloat32, openSafetensors, writeSafetensors } from '../../src/core/formats/safetensors.js'
import { makeTempDir } from './cli.js'
import { golden, readJson } from './fixtures.js'
import { mulberry32 } from './numbers.js'

export type Tensors = Map<string, { shape: number[]; data: Float32Array }>

export const BERT_TINY = golden('bert-tiny')
export const C = 64

export function bertTinyConfig(): Record<string, unknown> {
  return readJson<Record<string, unknown>>(path.join(BERT_TINY, 'config.json'))
}

export function bertTinyTensors(): Tensors {
  const file = openSafetensors(path.join(BERT_TINY, 'model.safetensors'))
  const out: Tensors = new Map()
  for (const [name, t] of file.tensors) out.set(name, { shape: [...t.shape], data: asFloat32(t).slice() })
  return out
}

/** A model folder: config.json, model.safetensors, and bert-tiny's tokenizer files. */
export function writeEncoderFolder(
  config: Record<string, unknown>,
  tensors: Tensors,
  dir = makeTempDir('kiln-encoder-'),
): string {
  mkdirSync(dir, { recursive: true })
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2))
  writeSafetensors(
    path.join(dir, 'model.safetensors'),
    [...tensors].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.data })),
  )
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(path.join(BERT_TINY, f), path.join(dir, f))
  return dir
}

function renamed(tensors: Tensors, rename: (name: string) => string | undefined): Tensors {
  const out: Tensors = new Map()
  for (const [name, t] of tensors) {
    const to = rename(name)
    if (to !== undefined) out.set(to, t)
  }
  return out
}

/** Position rows with the type-0 row added to each: what a family without token types needs. */
function foldType0(positions: Float32Array, types: Float32Array, rows: number): Float32Array {
  const out = positions.slice(0, rows * C)
  for (let r = 0; r < rows; r++) for (let c = 0; c < C; c++) out[r * C + c] += types[c]
  return out
}

/**
 * bert-tiny's encoder as RobertaModel / XLMRobertaModel: `roberta.` names, positions numbered from
 * padding_idx + 1 (the table gains `pad + 1` unused leading rows). With `fold`, type_vocab_size
 * is 1 and the type-0 row is folded into the positions (the sums are then ordered differently).
 */
export function asRoberta(
  modelType: 'roberta' | 'xlm-roberta',
  pad: number,
  fold: boolean,
): { config: Record<string, unknown>; tensors: Tensors } {
  const bert = bertTinyTensors()
  const tensors = renamed(bert, (n) =>
    n.startsWith('bert.') && !n.startsWith('bert.pooler') ? `roberta.${n.slice(5)}` : undefined,
  )
  const pos = bert.get('bert.embeddings.position_embeddings.weight')!
  const types = bert.get('bert.embeddings.token_type_embeddings.weight')!
  const P = pos.shape[0]
  const table = new Float32Array((P + pad + 1) * C)
  const rand = mulberry32(99)
  for (let i = 0; i < (pad + 1) * C; i++) table[i] = rand() * 2 - 1 // never read
  table.set(fold ? foldType0(pos.data, types.data, P) : pos.data, (pad + 1) * C)
  tensors.set('roberta.embeddings.position_embeddings.weight', { shape: [P + pad + 1, C], data: table })
  if (fold)
    tensors.set('roberta.embeddings.token_type_embeddings.weight', {
      shape: [1, C],
      data: new Float32Array(C),
    })
  const config = {
    ...bertTinyConfig(),
    model_type: modelType,
    architectures: [modelType === 'roberta' ? 'RobertaModel' : 'XLMRobertaModel'],
    pad_token_id: pad,
    max_position_embeddings: P + pad + 1,
    type_vocab_size: fold ? 1 : 2,
  }
  delete (config as Record<string, unknown>).id2label
  delete (config as Record<string, unknown>).label2id
  return { config, tensors }
}

const DISTIL_LAYER: Record<string, string> = {
  'attention.self.query': 'attention.q_lin',
  'attention.self.key': 'attention.k_lin',
  'attention.self.value': 'attention.v_lin',
  'attention.output.dense': 'attention.out_lin',
  'attention.output.LayerNorm': 'sa_layer_norm',
  'intermediate.dense': 'ffn.lin1',
  'output.dense': 'ffn.lin2',
  'output.LayerNorm': 'output_layer_norm',
}

/** bert-tiny's encoder as DistilBertModel: its names, no token types (type 0 folded into positions). */
export function asDistilBert(): { config: Record<string, unknown>; tensors: Tensors } {
  const bert = bertTinyTensors()
  const tensors = renamed(bert, (n) => {
    const m = /^bert\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(n)
    if (m) return `distilbert.transformer.layer.${m[1]}.${DISTIL_LAYER[m[2]]}.${m[3]}`
    if (n.startsWith('bert.embeddings.') && !n.includes('token_type')) return `distil${n}`
    return undefined
  })
  const pos = bert.get('bert.embeddings.position_embeddings.weight')!
  const types = bert.get('bert.embeddings.token_type_embeddings.weight')!
  tensors.set('distilbert.embeddings.position_embeddings.weight', {
    shape: pos.shape,
    data: foldType0(pos.data, types.data, pos.shape[0]),
  })
  const b = bertTinyConfig()
  const config = {
    model_type: 'distilbert',
    architectures: ['DistilBertModel'],
    vocab_size: b.vocab_size,
    dim: b.hidden_size,
    n_layers: b.num_hidden_layers,
    n_heads: b.num_attention_heads,
    hidden_dim: b.intermediate_size,
    max_position_embeddings: b.max_position_embeddings,
    activation: 'gelu',
    pad_token_id: 0,
  }
  return { config, tensors }
}

/** Seeded random (rows, cols) weights or (rows) biases, ~1/√cols. */
export function randomTensor(shape: number[], seed: number): { shape: number[]; data: Float32Array } {
  const rand = mulberry32(seed)
  const n = shape.reduce((a, b) => a * b, 1)
  const scale = shape.length === 2 ? 1 / Math.sqrt(shape[1]) : 0.1
  return { shape, data: Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale * Math.sqrt(3)) }
}

/** A head's tensors added to a variant, each random from its own seed. */
export function addHead(tensors: Tensors, head: Record<string, number[]>, seed: number): Tensors {
  let s = seed
  for (const [name, shape] of Object.entries(head)) tensors.set(name, randomTensor(shape, s++))
  return tensors
}
