// A training run's checkpoint: OUT/checkpoint, a folder written whole or not at all (a kill while
// saving leaves the previous one), holding every parameter with its AdamW moments and where the
// run stands (step, data position, the counters its random draws derive from). Resuming from it
// continues exactly the run that wrote it: the same data, dropout masks and updates.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import nodePath from 'node:path'
import { FormatError, option, UsageError } from '../errors.js'
import { asFloat32 } from '../formats/float.js'
import { openSafetensors } from '../formats/safetensors-read.js'
import { writeSafetensors } from '../formats/safetensors-write.js'
import { recoverFolder, writeFolderAtomic } from '../util/folder-write.js'
import type { DataPosition } from './data/index.js'
import type { TrainSession } from './train-session.js'

export const CHECKPOINT_DIR = 'checkpoint'

export interface RunState {
  /** Optimizer steps done. */
  step: number
  /** Micro-batches done (the dropout masks' seed counts them). */
  microSteps: number
  data: DataPosition
  tokens: number
  elapsedMs: number
  /** The options that shape the run: a resume with different ones would not continue it. */
  fingerprint: Record<string, unknown>
  /** The last optimizer step's loss (JSON has no NaN: null when it counted no token). */
  loss?: number | null
  /** Set by the run's last checkpoint: the closing evaluation's loss, already in metrics.jsonl. */
  finalEvalLoss?: number | null
}

const FORMAT = 'kiln-finetune-checkpoint'

export function saveCheckpoint(out: string, session: TrainSession, state: RunState): string {
  const dir = nodePath.join(out, CHECKPOINT_DIR)
  writeFolderAtomic(
    dir,
    (tmp) => {
      const tensors = session.params.flatMap((p) =>
        (
          [
            [p.name, p.id],
            [`${p.name}.adam_m`, p.m],
            [`${p.name}.adam_v`, p.v],
          ] as const
        ).map(([name, id]) => ({ name, dtype: 'F32' as const, shape: p.shape, data: session.read(id) })),
      )
      writeSafetensors(nodePath.join(tmp, 'state.safetensors'), tensors)
      const json = { format: FORMAT, version: 1, optimizerSteps: session.optimizerSteps, ...state }
      writeFileSync(nodePath.join(tmp, 'state.json'), `${JSON.stringify(json, null, 2)}\n`)
    },
    { replace: true },
  )
  return dir
}

/** Restores the session's parameters and moments from OUT's checkpoint; returns where the run stands. */
export function loadCheckpoint(
  out: string,
  session: TrainSession,
  fingerprint: Record<string, unknown>,
): RunState {
  const dir = nodePath.join(out, CHECKPOINT_DIR)
  recoverFolder(dir) // a run killed while replacing it left the previous one aside
  const stateFile = nodePath.join(dir, 'state.json')
  if (!existsSync(stateFile))
    throw new UsageError(`${out}: no checkpoint to resume from (${stateFile} is missing)`)
  let json: Record<string, unknown>
  try {
    json = JSON.parse(readFileSync(stateFile, 'utf8'))
  } catch (e) {
    throw new FormatError(`${stateFile}: ${(e as Error).message}`)
  }
  if (json.format !== FORMAT || json.version !== 1)
    throw new FormatError(`${stateFile}: not a kiln checkpoint (version 1)`)
  const saved = (json.fingerprint ?? {}) as Record<string, unknown>
  for (const [key, value] of Object.entries(fingerprint))
    if (JSON.stringify(saved[key]) !== JSON.stringify(value))
      throw new UsageError(
        `${out}: the checkpoint was trained with ${option(key)} ${JSON.stringify(saved[key])}, not ${JSON.stringify(value)}; resume with the same options`,
      )
  const file = openSafetensors(nodePath.join(dir, 'state.safetensors'))
  for (const p of session.params)
    for (const [name, id] of [
      [p.name, p.id],
      [`${p.name}.adam_m`, p.m],
      [`${p.name}.adam_v`, p.v],
    ] as const) {
      const view = file.tensors.get(name)
      if (view?.dtype !== 'F32' || view.shape.join() !== p.shape.join())
        throw new FormatError(`${dir}: the checkpoint lacks ${name} [${p.shape}] (F32)`)
      session.write(id, asFloat32(view))
    }
  session.optimizerSteps = Number(json.optimizerSteps)
  const state = json as unknown as RunState
  return {
    step: state.step,
    microSteps: state.microSteps,
    data: state.data,
    tokens: state.tokens,
    elapsedMs: state.elapsedMs,
    fingerprint: saved,
    loss: state.loss,
    finalEvalLoss: state.finalEvalLoss,
  }
}
