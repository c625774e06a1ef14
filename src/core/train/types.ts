// The shapes shared by the trainer (src/core/train), its data pipeline (train/data) and its front
// ends (the finetune command): options as the library names them, the progress events a run
// reports, and what it returns.
import type { HubOptions } from '../hub/config.js'
import type { DownloadListener } from '../hub/events.js'

/** One training example: token ids and, aligned with them, the label of each position (HF convention:
 * `labels[t]` is the token at t, or -100 where the loss ignores it; the loss shifts them itself). */
export interface TrainExample {
  ids: number[]
  labels: number[]
}

export type LearningRateSchedule = 'cosine' | 'linear' | 'constant'
export type FinetuneMethod = 'lora' | 'full'

export interface FinetuneOptions {
  /** Model folder, GGUF file or repo id, as everywhere. */
  model: string
  /** Training data: a JSONL/JSON/Parquet/text file, or a Hub dataset id (see train/data). */
  data: string
  /** Output folder: a PEFT adapter (lora) or a Hugging Face model folder (full). */
  out: string
  method?: FinetuneMethod
  /** LoRA rank r (default 16), alpha (default 2·r), dropout on the LoRA input (default 0). */
  rank?: number
  alpha?: number
  dropout?: number
  /** Module names (q_proj, v_proj, …) or ['all-linear'] (PEFT's meaning); default q_proj, v_proj. */
  target?: string[]
  epochs?: number
  maxSteps?: number
  /** Sequences per micro-batch. */
  batchSize?: number
  gradAccum?: number
  lr?: number
  schedule?: LearningRateSchedule
  /** Warmup steps (an integer ≥ 1) or a fraction of the total steps (< 1). */
  warmup?: number
  weightDecay?: number
  maxGradNorm?: number
  /** Longest sequence in tokens; longer examples are truncated. */
  seqLen?: number
  /** Fill each batch's token budget with several short examples (each still its own sequence). */
  packing?: boolean
  /**
   * Recompute each layer's activations in the backward instead of keeping them (transformers'
   * gradient_checkpointing): the same gradients, in less memory, for one more forward's compute.
   */
  gradientCheckpointing?: boolean
  /**
   * Vocabulary columns per chunk of the loss: the logits are computed that many columns at a time,
   * twice (the backward recomputes them), and never held whole; 0: the whole logits. Absent: whole
   * while a micro-batch's logits fit in 256 MiB and gradientCheckpointing is off, else chunks
   * (autoLossChunk).
   */
  lossChunk?: number
  /** LoRA: also write the base with the adapter folded in, as a model folder OUT/merged. */
  merge?: boolean
  /** Held-out data file, or a fraction of DATA kept out of training (evalSplit). */
  eval?: string
  evalSplit?: number
  evalEvery?: number
  saveEvery?: number
  /** Continue from OUT's last checkpoint. */
  resume?: boolean
  seed?: number
  threads?: number
  /** Replace an existing OUT. */
  force?: boolean
  /** Where a Hub dataset id (data, eval) is fetched from (default: the HF_* environment). */
  hub?: HubOptions
  /** The progress of fetching a Hub dataset id. */
  onDownload?: DownloadListener
}

export type FinetuneEvent =
  | {
      type: 'start'
      method: FinetuneMethod
      totalSteps: number
      trainableParameters: number
      examples: number
      startStep: number
      /** What the data gave at seqLen: its records, the long texts cut into windows, the records
       * truncated, and those left out (with why). */
      data: {
        records: number
        windowed: number
        truncated: number
        seqLen: number
        skipped: { where: string; reason: string }[]
      }
    }
  | {
      type: 'step'
      step: number
      totalSteps: number
      loss: number
      lr: number
      gradNorm: number
      tokens: number
      tokensPerSecond: number
      elapsedMs: number
      etaMs: number
    }
  | { type: 'eval'; step: number; loss: number }
  | { type: 'save'; step: number; dir: string }

export interface FinetuneResult {
  out: string
  method: FinetuneMethod
  steps: number
  finalLoss: number
  evalLoss?: number
  trainableParameters: number
  tokensPerSecond: number
  elapsedMs: number
  /** metrics.jsonl and the loss-curve picture in OUT. */
  metricsFile: string
  lossCurveFile: string
}
