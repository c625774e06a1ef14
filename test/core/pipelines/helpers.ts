// Pipelines over bert-tiny and its variants (test/helpers/encoder-variants.ts), and the engine's
// own outputs to check them against.
import path from 'node:path'
import { afterAll } from 'vitest'
import { type Pipeline, type PipelineTask, pipeline } from '../../../src/core/pipelines/index.js'
import { removeTempDirs } from '../../helpers/cli.js'
import { BERT_TINY } from '../../helpers/encoder-variants.js'
import { readJson } from '../../helpers/fixtures.js'

export const golden = readJson<{ sentences: string[]; input_ids: number[][]; attention_mask: number[][] }>(
  path.join(BERT_TINY, 'golden.json'),
)

const opened: { dispose(): void }[] = []

/** A pipeline freed after the file's tests. */
export async function open<T extends PipelineTask>(task: T, model: string): Promise<Pipeline<T>> {
  const p = await pipeline(task, model, { threads: 2 })
  opened.push(p)
  return p
}

export function disposeAfterAll(): void {
  afterAll(() => {
    for (const p of opened.splice(0)) p.dispose()
    removeTempDirs()
  })
}
