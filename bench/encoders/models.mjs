// The encoder bench's model folders, written once under .bench/encoders/:
//   model/bert-base/      a BERT-base-shaped BertModel with seeded random F32 weights (safetensors)
//   onnx/<name>/plain.onnx, onnx/<name>/fused.onnx   the same weights as ONNX (see onnx.mjs)
//   onnx/<name>/tjs/           the folder transformers.js loads: config.json, tokenizer files,
//                         onnx/model.onnx (a hard link to plain.onnx)
// A stamp file records the builder version, so a changed builder rewrites its outputs.
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { buildBertOnnx, readSafetensors } from './onnx.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BENCH_DIR = path.join(root, '.bench', 'encoders')
const ONNX_VERSION = 'onnx-v2'

export const BERT_BASE = { C: 768, L: 12, NH: 12, F: 3072, V: 30522, P: 512, types: 2 }

// Seeded uniform fill in [-a, a) (xorshift32): weights only need to be finite and varied.
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

/** Writes (once) and returns the folder of the random-weight BERT-base BertModel. */
export async function makeBertBase() {
  const dir = path.join(BENCH_DIR, 'model', 'bert-base')
  if (existsSync(path.join(dir, 'model.safetensors'))) return dir
  const { writeSafetensors } = await import(
    pathToFileURL(path.join(root, 'dist/core/formats/safetensors.js')).href
  )
  mkdirSync(dir, { recursive: true })
  const { C, L, F, V, P, types } = BERT_BASE
  const tensors = []
  let seed = 1
  // norm weights ≈ 1, biases small, matrices ±a
  const add = (name, shape, a, offset = 0) => {
    const n = shape.reduce((x, y) => x * y, 1)
    const data = fill(n, a, seed++)
    if (offset) for (let i = 0; i < n; i++) data[i] += offset
    tensors.push({ name, shape, dtype: 'F32', data })
  }
  const linear = (name, inF, outF) => {
    add(`${name}.weight`, [outF, inF], Math.sqrt(3 / inF)) // unit-variance outputs for unit inputs
    add(`${name}.bias`, [outF], 0.02)
  }
  const norm = (name, C) => {
    add(`${name}.weight`, [C], 0.05, 1)
    add(`${name}.bias`, [C], 0.02)
  }
  add('embeddings.word_embeddings.weight', [V, C], 0.5)
  add('embeddings.position_embeddings.weight', [P, C], 0.5)
  add('embeddings.token_type_embeddings.weight', [types, C], 0.5)
  norm('embeddings.LayerNorm', C)
  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}`
    for (const n of ['query', 'key', 'value']) linear(`${p}.attention.self.${n}`, C, C)
    linear(`${p}.attention.output.dense`, C, C)
    norm(`${p}.attention.output.LayerNorm`, C)
    linear(`${p}.intermediate.dense`, C, F)
    linear(`${p}.output.dense`, F, C)
    norm(`${p}.output.LayerNorm`, C)
  }
  linear('pooler.dense', C, C)
  const config = {
    architectures: ['BertModel'],
    model_type: 'bert',
    attention_probs_dropout_prob: 0.1,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.1,
    hidden_size: C,
    initializer_range: 0.02,
    intermediate_size: F,
    layer_norm_eps: 1e-12,
    max_position_embeddings: P,
    num_attention_heads: BERT_BASE.NH,
    num_hidden_layers: L,
    pad_token_id: 0,
    position_embedding_type: 'absolute',
    type_vocab_size: types,
    vocab_size: V,
    torch_dtype: 'float32',
  }
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2))
  // The bench feeds ids directly: the tokenizer is only there to make a complete folder.
  const tok = path.join(root, 'test/fixtures/golden/tok-wordpiece')
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    writeFileSync(path.join(dir, f), readFileSync(path.join(tok, f)))
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors)
  return dir
}

/**
 * The ONNX files and transformers.js folder for the model in `dir`, written under
 * .bench/encoders/onnx/<name>/ unless already there (and newer than the weights).
 */
export function makeOnnx(name, dir) {
  const out = path.join(BENCH_DIR, 'onnx', name)
  const stamp = path.join(out, 'stamp')
  const weights = path.join(dir, 'model.safetensors')
  const want = `${ONNX_VERSION} ${statSync(weights).mtimeMs}`
  const files = {
    plain: path.join(out, 'plain.onnx'),
    fused: path.join(out, 'fused.onnx'),
    tjs: path.join(out, 'tjs'),
  }
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return files
  rmSync(out, { recursive: true, force: true })
  mkdirSync(path.join(files.tjs, 'onnx'), { recursive: true })
  const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))
  const w = readSafetensors(weights)
  buildBertOnnx(cfg, w, 'plain').writeTo(files.plain)
  buildBertOnnx(cfg, w, 'fused').writeTo(files.fused)
  // transformers.js: config (model_type bert → BertModel), tokenizer files, onnx/model.onnx
  writeFileSync(
    path.join(files.tjs, 'config.json'),
    JSON.stringify({ ...cfg, architectures: ['BertModel'] }, null, 2),
  )
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    writeFileSync(path.join(files.tjs, f), readFileSync(path.join(dir, f)))
  linkSync(files.plain, path.join(files.tjs, 'onnx', 'model.onnx'))
  writeFileSync(stamp, want)
  return files
}
