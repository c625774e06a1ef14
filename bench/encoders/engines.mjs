// The three engines the encoder bench runs side by side, behind one shape:
//   { engine, variant, threads, prepare(inputs) → () => Promise<void>, outputs(inputs) → Float32Array[], dispose() }
// `prepare` does the per-batch set-up (tensors) outside the timed call; `outputs` gives each
// input's last_hidden_state (T, C) for the correctness check (padding rows dropped).
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ort from 'onnxruntime-node'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** kiln: loadEncoder(dir, { threads }), forward(inputs, 'hidden', 'all') on ragged inputs. */
export async function kilnEngine(dir, threads) {
  const { loadEncoder } = await import(pathToFileURL(path.join(root, 'dist/core/runtime/encoder.js')).href)
  const model = loadEncoder(dir, { threads })
  return {
    engine: 'kiln',
    variant: `${threads}t`,
    threads,
    prepare: (inputs) => async () => {
      await model.forward(inputs, 'hidden', 'all')
    },
    outputs: (inputs) => model.forward(inputs, 'hidden', 'all'),
    dispose: async () => model.dispose(),
  }
}

/** Padded (B, T) int64 feeds for a batch: ids, mask (1 on real tokens), token types. */
function padded(inputs) {
  const B = inputs.length
  const T = inputs.reduce((m, x) => Math.max(m, x.ids.length), 0)
  const ids = new BigInt64Array(B * T)
  const mask = new BigInt64Array(B * T)
  const types = new BigInt64Array(B * T)
  inputs.forEach((x, b) => {
    for (let j = 0; j < x.ids.length; j++) {
      ids[b * T + j] = BigInt(x.ids[j])
      mask[b * T + j] = 1n
      types[b * T + j] = BigInt(x.typeIds?.[j] ?? 0)
    }
  })
  return { B, T, ids, mask, types }
}

/** Each input's valid rows out of a (B, T, C) padded output. */
function unpad(data, inputs, T) {
  const C = data.length / (inputs.length * T)
  return inputs.map((x, b) => data.slice(b * T * C, (b * T + x.ids.length) * C))
}

/** ONNX Runtime: an InferenceSession over `file`, graphOptimizationLevel 'all'. */
export async function ortEngine(file, variant, threads) {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  })
  const feeds = (inputs) => {
    const { B, T, ids, mask, types } = padded(inputs)
    return {
      T,
      feeds: {
        input_ids: new ort.Tensor('int64', ids, [B, T]),
        attention_mask: new ort.Tensor('int64', mask, [B, T]),
        token_type_ids: new ort.Tensor('int64', types, [B, T]),
      },
    }
  }
  return {
    engine: 'ORT',
    variant: `${variant} ${threads}t`,
    threads,
    prepare: (inputs) => {
      const f = feeds(inputs).feeds
      return async () => {
        const out = await session.run(f)
        out.last_hidden_state.dispose?.()
      }
    },
    outputs: async (inputs) => {
      const { T, feeds: f } = feeds(inputs)
      const out = await session.run(f)
      return unpad(out.last_hidden_state.data, inputs, T)
    },
    dispose: () => session.release(),
  }
}

/**
 * transformers.js: AutoModel.from_pretrained(`<localModelPath>/<id>`) on onnxruntime-node (device
 * cpu, dtype fp32, its default session options: ORT's default thread count, optimization 'all').
 */
export async function tjsEngine(localModelPath, id) {
  const { AutoModel, Tensor, env } = await import('@huggingface/transformers')
  env.allowRemoteModels = false
  env.allowLocalModels = true
  env.localModelPath = localModelPath.endsWith('/') ? localModelPath : `${localModelPath}/`
  const model = await AutoModel.from_pretrained(id, { device: 'cpu', dtype: 'fp32' })
  const feeds = (inputs) => {
    const { B, T, ids, mask, types } = padded(inputs)
    return {
      T,
      feeds: {
        input_ids: new Tensor('int64', ids, [B, T]),
        attention_mask: new Tensor('int64', mask, [B, T]),
        token_type_ids: new Tensor('int64', types, [B, T]),
      },
    }
  }
  return {
    engine: 'transformers.js',
    variant: 'default',
    threads: 'default',
    prepare: (inputs) => {
      const f = feeds(inputs).feeds
      return async () => {
        await model(f)
      }
    },
    outputs: async (inputs) => {
      const { T, feeds: f } = feeds(inputs)
      const out = await model(f)
      return unpad(out.last_hidden_state.data, inputs, T)
    },
    dispose: () => model.dispose(),
  }
}
