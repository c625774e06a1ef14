// `kiln export --adapter DIR`: exporters read a model folder, so the base with the PEFT adapter
// folded in (W + scale·B·A, each tensor back in its stored dtype) is written first to a temporary
// folder beside the output (the same disk the output goes to, not a possibly small /tmp), exported
// from, then removed.
import { mkdtempSync, rmSync } from 'node:fs'
import path from 'node:path'
import { readLoraAdapter } from '../formats/peft.js'
import { openModelSource } from '../runtime/model-source.js'
import { writeMergedModel } from '../train/outputs.js'

export interface MergedBase {
  /** The merged model folder. */
  path: string
  /** Removes it. */
  dispose(): void
}

export function mergeAdapterBeside(output: string, modelPath: string, adapterDir: string): MergedBase {
  const adapter = readLoraAdapter(adapterDir)
  const source = openModelSource(modelPath)
  const tmp = mkdtempSync(path.join(path.dirname(path.resolve(output)), '.kiln-merge-'))
  try {
    const dir = path.join(tmp, path.basename(source.path))
    writeMergedModel(dir, source, adapter, false)
    return { path: dir, dispose: () => rmSync(tmp, { recursive: true, force: true }) }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
}
