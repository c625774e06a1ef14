// pipeline(task, model): the task pipelines of transformers.js (same tasks, same result shapes)
// with the options of Python transformers' pipelines, named the library's way (topK,
// aggregationStrategy, …). MODEL is a local folder or a repo id (fetched through the Hub cache).
import { UsageError } from '../errors.js'
import { resolveModelArg } from '../hub/model-arg.js'
import type { EncoderModel } from '../runtime/encoder.js'
import { type LoadOptions, loadModel, type Model } from '../runtime/model.js'
import { featureExtraction } from './feature-extraction.js'
import { fillMask } from './fill-mask.js'
import { openEncoder, type PipelineLoadOptions } from './load.js'
import { textClassification } from './text-classification.js'
import { textGeneration } from './text-generation.js'
import { tokenClassification } from './token-classification.js'
import { zeroShotClassification } from './zero-shot.js'

export type { FeatureExtractionOptions, FeatureTensor } from './feature-extraction.js'
export type { FillMaskCandidate, FillMaskOptions, FillMaskOutput } from './fill-mask.js'
export type { PipelineLoadOptions } from './load.js'
export { type EmbeddingInput, type SentenceEmbedder, sentenceEmbedder } from './sentence-embedding.js'
export type { PoolingMode, SentenceTransformerConfig } from './sentence-transformers.js'
export { readSentenceTransformerConfig } from './sentence-transformers.js'
export type {
  LabelScore,
  ScoreFunction,
  TextClassificationOptions,
  TextClassificationOutput,
  TextInput,
} from './text-classification.js'
export type { GeneratedText, TextGenerationOptions } from './text-generation.js'
export type {
  AggregationStrategy,
  EntityGroup,
  TokenClassificationOptions,
  TokenEntity,
} from './token-classification.js'
export type { ZeroShotOptions, ZeroShotResult } from './zero-shot.js'

interface Tasks {
  'text-classification': ReturnType<typeof textClassification>
  'sentiment-analysis': ReturnType<typeof textClassification>
  'token-classification': ReturnType<typeof tokenClassification>
  ner: ReturnType<typeof tokenClassification>
  'fill-mask': ReturnType<typeof fillMask>
  'feature-extraction': ReturnType<typeof featureExtraction>
  'zero-shot-classification': ReturnType<typeof zeroShotClassification>
  'text-generation': ReturnType<typeof textGeneration>
}

export type PipelineTask = keyof Tasks

/** A task's function, with the model it runs and a way to free it. */
export type Pipeline<T extends PipelineTask> = Tasks[T] & {
  task: T
  model: T extends 'text-generation' ? Model : EncoderModel
  dispose(): void
}

const ENCODER_TASKS = {
  'text-classification': textClassification,
  'sentiment-analysis': textClassification,
  'token-classification': tokenClassification,
  ner: tokenClassification,
  'fill-mask': fillMask,
  'feature-extraction': featureExtraction,
  'zero-shot-classification': zeroShotClassification,
} as const

export const PIPELINE_TASKS: readonly PipelineTask[] = [
  ...Object.keys(ENCODER_TASKS),
  'text-generation',
] as PipelineTask[]

export type PipelineOptions = PipelineLoadOptions & Pick<LoadOptions, 'contextLength' | 'chunkSize'>

export async function pipeline<T extends PipelineTask>(
  task: T,
  model: string,
  opts: PipelineOptions = {},
): Promise<Pipeline<T>> {
  if (!PIPELINE_TASKS.includes(task))
    throw new UsageError(`unknown task "${task}" (tasks: ${PIPELINE_TASKS.join(', ')})`)
  if (task === 'text-generation') {
    const { hub, onEvent, batchTokens: _, ...load } = opts
    const m = loadModel(await resolveModelArg(model, hub, onEvent), load)
    return Object.assign(textGeneration(m), {
      task,
      model: m,
      dispose: () => m.dispose(),
    }) as unknown as Pipeline<T>
  }
  const { contextLength: _c, chunkSize: _s, ...load } = opts
  const m = await openEncoder(model, load)
  try {
    const make = ENCODER_TASKS[task as keyof typeof ENCODER_TASKS] as (m: EncoderModel) => Tasks[T]
    return Object.assign(make(m), { task, model: m, dispose: () => m.dispose() }) as unknown as Pipeline<T>
  } catch (e) {
    m.dispose()
    throw e
  }
}
