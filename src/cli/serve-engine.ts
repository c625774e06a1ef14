// What `kiln serve` runs under the HTTP server, by the model's kind (core's checkpointKind): a text
// generator with its continuous-batching scheduler, or an encoder (BERT family) with the batcher
// that shares forward passes between requests' inputs. Either way: what buildServer takes, the
// longest prompt, and how to drain, stop and free it.
import { UsageError } from '../core/errors.js'
import type { EncoderServing, GeneratorServing } from '../server/app.js'
import type { ServeInput } from './serve.js'

export interface ServeEngine {
  kind: 'generator' | 'encoder'
  serving: GeneratorServing | EncoderServing
  /** The ready event's max_model_len. */
  maxModelLen: number
  /** Stops taking work; resolves once what was admitted has finished. */
  drain(): Promise<void>
  /** Cancels what is left; resolves once the model is no longer in use (then dispose it). */
  close(): Promise<void>
  dispose(): void
}

/** `input.adapters` holds local folders (fetched by the caller). */
export async function openServeEngine(modelPath: string, input: ServeInput): Promise<ServeEngine> {
  const { checkpointKind } = await import('../core/models/registry.js')
  if (checkpointKind(modelPath) !== 'encoder') return openGenerator(modelPath, input)
  if (Object.keys(input.adapters).length > 0)
    throw new UsageError(`--adapter: LoRA adapters apply to text generators; ${modelPath} is an encoder`)
  return openEncoder(modelPath, input)
}

async function openGenerator(modelPath: string, input: ServeInput): Promise<ServeEngine> {
  const [{ loadModel }, { Scheduler }] = await Promise.all([
    import('../core/runtime/model.js'),
    import('../core/runtime/scheduler.js'),
  ])
  const model = loadModel(modelPath, {
    threads: input.threads,
    dtype: input.dtype,
    contextLength: input.context,
    adapters: input.adapters,
  })
  try {
    // The queue limit is the server's: it admits a request's sequences all or none.
    const scheduler = new Scheduler(model, {
      maxSeqs: input.maxSeqs,
      contextLength: input.context,
      kvBlocks: input.kvBlocks,
      kvMemory: input.kvMemory,
      prefixCache: input.prefixCache,
    })
    return {
      kind: 'generator',
      serving: { model, scheduler },
      maxModelLen: scheduler.contextLength,
      drain: () => scheduler.drain(),
      close: () => scheduler.close(),
      dispose: () => model.dispose(),
    }
  } catch (e) {
    model.dispose()
    throw e
  }
}

/**
 * --max-seqs is the inputs one forward pass takes, --max-queue the inputs that may wait beyond it,
 * --context a lower limit on an input's tokens; the KV-cache flags have nothing to act on.
 */
async function openEncoder(modelPath: string, input: ServeInput): Promise<ServeEngine> {
  const [{ loadEncoder }, { EncoderBatcher }, { sentenceEmbedder }] = await Promise.all([
    import('../core/runtime/encoder.js'),
    import('../core/runtime/encoder-batcher.js'),
    import('../core/pipelines/sentence-embedding.js'),
  ])
  const model = loadEncoder(modelPath, { threads: input.threads, dtype: input.dtype })
  try {
    const encoder = new EncoderBatcher(model, { maxInputs: input.maxSeqs, maxQueue: input.maxQueue })
    return {
      kind: 'encoder',
      serving: { encoder, maxInputTokens: input.context },
      maxModelLen: sentenceEmbedder(model, { limit: input.context }).maxLength,
      drain: () => encoder.drain(),
      close: () => encoder.close(),
      dispose: () => model.dispose(),
    }
  } catch (e) {
    model.dispose()
    throw e
  }
}
