// The training data pipeline: a file (or a Hub dataset's split, hub-dataset) read into records
// (read-records), records tokenized into examples with loss labels (examples; long text in chunks
// and windows, long-text), records split for evaluation, examples batched (batches).

import { existsSync } from 'node:fs'
import { InputError, option, UsageError } from '../../errors.js'
import type { HubOptions } from '../../hub/config.js'
import type { DownloadListener } from '../../hub/events.js'
import type { Tokenizer } from '../../tokenizer/index.js'
import { splitEval } from './batches.js'
import { recordExamples, type SourcedExample } from './examples.js'
import { type HubDataset, parseDatasetArg, resolveHubDataset } from './hub-dataset.js'
import { type ReadRecordsOptions, readRecords, type TrainRecord } from './read-records.js'

export {
  type BatchOptions,
  BatchPlan,
  countLabelled,
  type DataPosition,
  EVAL_SPLIT_SEED,
  type MicroBatch,
  mulberry32,
  shuffledOrder,
  splitEval,
  truncate,
} from './batches.js'
export { IGNORE, type RecordExamples, recordExamples, type SourcedExample, toExample } from './examples.js'
export {
  type DatasetRef,
  type HubDataset,
  isHubDatasetArg,
  parseDatasetArg,
  resolveHubDataset,
} from './hub-dataset.js'
export {
  type DataFormat,
  dataFormat,
  MAX_FILE_BYTES,
  MAX_LINE_BYTES,
  RECORD_COLUMNS,
  type ReadRecordsOptions,
  readRecords,
  type TrainRecord,
} from './read-records.js'

export interface TrainDataOptions extends ReadRecordsOptions {
  /**
   * Longest sequence: a longer text becomes windows of seqLen tokens; prompt/completion and
   * messages records keep their first seqLen tokens.
   */
  seqLen: number
  /**
   * Fraction of the records held out for evaluation (after a shuffle with a fixed seed): a held-out
   * text keeps all its windows there, so no document is on both sides.
   */
  evalSplit?: number
  /** Seed of that shuffle (default EVAL_SPLIT_SEED, whatever the run's seed). */
  evalSeed?: number
  /** Called as records are tokenized (every 1,024 records, and at the end). */
  onProgress?: (tokenized: number, total: number) => void
  /** Where a Hub dataset id is fetched from (default: the HF_* environment). */
  hub?: HubOptions
  /** The progress of fetching a Hub dataset id. */
  onDownload?: DownloadListener
}

export interface SkippedExample {
  where: string
  reason: string
}

export interface TrainData {
  /** Examples to train on, at most seqLen tokens each, in the file's order (eval ones taken out). */
  examples: SourcedExample[]
  /** The held-out examples when evalSplit is given. */
  eval?: SourcedExample[]
  /** Records in the file. */
  records: number
  /** Text records longer than seqLen, cut into consecutive windows (each an example). */
  windowed: number
  /** Prompt/completion and messages records that lost tokens past seqLen. */
  truncated: number
  /** Examples left out: every token the loss counts lay past seqLen. */
  skipped: SkippedExample[]
  /** Tokens in `examples` and `eval`, after truncation. */
  tokens: number
  /** When DATA was a Hub dataset id: the repo, commit, split and files it was read from. */
  hub?: HubDataset
}

const PROGRESS_EVERY = 1024

/**
 * The records of DATA: a local file, or (when no such path exists) a Hub dataset id
 * (`org/name[@rev]`, `org/name[@rev]:split`, `org/name[@rev]/path/file.jsonl`), whose split's shards
 * are read in order, each record naming its shard file.
 */
export async function readDataRecords(
  data: string,
  opts: Pick<TrainDataOptions, 'hub' | 'onDownload' | keyof ReadRecordsOptions> = {},
): Promise<{ records: TrainRecord[]; hub?: HubDataset }> {
  if (existsSync(data) || parseDatasetArg(data) === undefined)
    return { records: await readRecords(data, opts) }
  const hub = await resolveHubDataset(data, opts.hub, opts.onDownload)
  const records: TrainRecord[] = []
  for (const file of hub.files) for (const r of await readRecords(file, opts)) records.push(r)
  return { records, hub }
}

/**
 * Reads `file` (a local file or a Hub dataset id, see readDataRecords) and tokenizes each record
 * into examples of at most seqLen tokens (recordExamples: text windowed, the other kinds
 * truncated). A record that cannot be trained on is an error naming it; one whose counted tokens
 * all fall past seqLen is skipped and reported (a long prompt is common and not the data's fault).
 */
export async function loadTrainData(
  file: string,
  tokenizer: Tokenizer,
  opts: TrainDataOptions,
): Promise<TrainData> {
  // A sequence of one token predicts nothing (the loss shifts the labels): a long text would become
  // a window per token, each of them useless.
  if (!Number.isInteger(opts.seqLen) || opts.seqLen < 2) {
    throw new UsageError(
      `${option('seqLen')} must be an integer ≥ 2 (a sequence of one token predicts nothing), got ${opts.seqLen}`,
    )
  }
  const { records, hub } = await readDataRecords(file, opts)
  // The examples of each record that gives any, in the file's order.
  const byRecord: SourcedExample[][] = []
  const skipped: SkippedExample[] = []
  let truncated = 0
  let windowed = 0
  let tokens = 0
  for (let i = 0; i < records.length; i++) {
    if (i > 0 && i % PROGRESS_EVERY === 0) opts.onProgress?.(i, records.length)
    const r = recordExamples(records[i], tokenizer, opts.seqLen)
    if (r.truncated) truncated++
    if (r.windowed) windowed++
    if (r.skipped !== undefined) {
      skipped.push({ where: records[i].where, reason: r.skipped })
      continue
    }
    for (const e of r.examples) tokens += e.ids.length
    byRecord.push(r.examples)
  }
  opts.onProgress?.(records.length, records.length)
  if (byRecord.length === 0) {
    throw new InputError(
      `${file}: no record has a token the loss counts within the first ${option('seqLen')} = ${opts.seqLen} tokens`,
    )
  }
  const data = { records: records.length, windowed, truncated, skipped, tokens, ...(hub && { hub }) }
  if (opts.evalSplit === undefined) return { examples: byRecord.flat(), ...data }
  // Held out by record, before the windows are pooled: a document's windows stay on one side.
  const split = splitEval(byRecord, opts.evalSplit, opts.evalSeed, 'records')
  // The training examples keep the file's order (the batch plan shuffles them per epoch).
  const held = new Set(split.eval)
  return {
    examples: byRecord.filter((r) => !held.has(r)).flat(),
    eval: split.eval.flat(),
    ...data,
  }
}
