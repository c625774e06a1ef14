// kiln embed: a vector per text, as SentenceTransformer.encode gives it on a sentence-transformers
// folder (its pooling, normalisation, max_seq_length and prompts), else mean pooling and L2
// normalisation; --pooling/--normalize/--prompt override. --output writes .npy, .safetensors or
// .jsonl (embedding-writers.ts); without it, a JSON line per text goes to stdout.
import { UsageError } from '../../core/errors.js'
import type { FeatureExtractionOptions } from '../../core/pipelines/index.js'
import type { Rendering } from '../render.js'
import { type EmbeddingWriter, embeddingFormat, openEmbeddingWriter } from './embedding-writers.js'
import type { TaskInput, TaskSummary } from './run-task.js'
import { runTextTask } from './run-task.js'

export interface EmbedInput extends TaskInput {
  output?: string
  force: boolean
  pooling?: FeatureExtractionOptions['pooling']
  normalize?: boolean
  prompt?: string
  promptName?: string
}

export interface EmbedSummary extends TaskSummary {
  output?: string
  dims: number
}

export async function runEmbed(input: EmbedInput): Promise<EmbedSummary> {
  if (input.pooling === 'none')
    throw new UsageError('--pooling none gives no single vector per text; choose mean, cls, max or last')
  if (input.prompt !== undefined && input.promptName !== undefined)
    throw new UsageError('give either --prompt or --prompt-name, not both')
  if (input.output !== undefined) embeddingFormat(input.output)
  const { featureExtraction } = await import('../../core/pipelines/feature-extraction.js')
  const { readSentenceTransformerConfig } = await import('../../core/pipelines/sentence-transformers.js')
  let writer: EmbeddingWriter | undefined
  let dims = 0
  try {
    const summary = await runTextTask(input, (model) => {
      const st = readSentenceTransformerConfig(model.dir)
      const extract = featureExtraction(model)
      const options: FeatureExtractionOptions = {
        pooling: input.pooling ?? (st ? undefined : 'mean'),
        normalize: input.normalize ?? (st ? undefined : true),
        prompt: input.prompt,
        promptName: input.promptName,
      }
      if (input.output !== undefined) writer = openEmbeddingWriter(input.output, input.force)
      return {
        async run(texts) {
          const t = await extract(texts, options)
          dims = t.dims[1]
          const vectors = texts.map((_, i) => t.data.slice(i * dims, (i + 1) * dims))
          writer?.write(vectors, texts)
          return vectors
        },
        // With --output the vectors went to the file; stdout stays quiet.
        text: (v, t) => (writer ? '' : `${JSON.stringify({ text: t.text, embedding: Array.from(v) })}\n`),
        json: (v, t) => (writer ? undefined : { text: t.text, embedding: Array.from(v) }),
      }
    })
    const written = writer?.finish()
    return { ...summary, output: input.output, dims: written?.dims ?? dims }
  } catch (e) {
    writer?.abort()
    throw e
  }
}

/** With --output the summary is the result (JSON: one line); without, the vectors were the output. */
export const embedRendering: Rendering<EmbedSummary> = {
  text: (r, { quiet }) =>
    quiet
      ? {}
      : {
          err: `${r.texts} text${r.texts === 1 ? '' : 's'} → ${r.dims}-dimensional vectors${r.output ? ` in ${r.output}` : ''} (${r.seconds.toFixed(2)} s)\n`,
        },
  jsonLines: (r) => (r.output ? [r] : []),
}
