// Opens a model folder's weights: model.safetensors, a sharded checkpoint described by
// model.safetensors.index.json, or a folder holding a single *.safetensors file.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import nodePath from 'node:path'
import { FormatError } from '../errors.js'
import { quote, shown } from '../util/shown.js'
import { openSafetensors } from './safetensors-read.js'
import type { SafetensorsFile, TensorView } from './safetensors-types.js'

const INDEX_FILE = 'model.safetensors.index.json'
const SINGLE_FILE = 'model.safetensors'

/** All tensors of the checkpoint in `dir` (a .safetensors file path is accepted too), by name. */
export function openCheckpoint(dir: string): Map<string, TensorView> {
  let st: ReturnType<typeof statSync>
  try {
    st = statSync(dir)
  } catch (e) {
    throw new FormatError(`${dir}: cannot read checkpoint: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (st.isFile()) return openSafetensors(dir).tensors

  const index = nodePath.join(dir, INDEX_FILE)
  if (existsSync(index)) return openSharded(dir, index)
  const single = nodePath.join(dir, SINGLE_FILE)
  if (existsSync(single)) return openSafetensors(single).tensors

  const found = readdirSync(dir).filter((f) => f.endsWith('.safetensors'))
  if (found.length === 1) return openSafetensors(nodePath.join(dir, found[0])).tensors
  if (found.length === 0) {
    throw new FormatError(`${dir}: no weights found (expected ${SINGLE_FILE} or ${INDEX_FILE})`)
  }
  throw new FormatError(
    `${dir}: ${found.length} .safetensors files (${found.sort().join(', ')}) but no ${INDEX_FILE} saying how they fit together`,
  )
}

function openSharded(dir: string, index: string): Map<string, TensorView> {
  function fail(problem: string): never {
    throw new FormatError(`${index}: ${problem}`)
  }
  let json: unknown
  try {
    json = JSON.parse(readFileSync(index, 'utf8'))
  } catch (e) {
    fail(`not valid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('must be a JSON object')
  const weightMap = (json as Record<string, unknown>)['weight_map']
  if (weightMap === undefined) fail('missing "weight_map"')
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    fail('"weight_map" must be an object mapping tensor names to shard files')
  }

  const root = nodePath.resolve(dir)
  const shards = new Map<string, SafetensorsFile>()
  const out = new Map<string, TensorView>()
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '') {
      fail(`weight_map entry ${quote(name)} must be a shard file name, got ${shown(shard)}`)
    }
    let file = shards.get(shard)
    if (!file) {
      // The index is untrusted input: shards must stay inside the model folder.
      const shardPath = nodePath.resolve(root, shard)
      if (nodePath.isAbsolute(shard) || !shardPath.startsWith(root + nodePath.sep)) {
        fail(`shard ${quote(shard)} is outside the model folder`)
      }
      if (!existsSync(shardPath)) fail(`shard ${quote(shard)} (holding ${quote(name)}) is missing`)
      file = openSafetensors(nodePath.join(dir, shard))
      shards.set(shard, file)
    }
    const view = file.tensors.get(name)
    if (!view) fail(`tensor ${quote(name)} is mapped to ${quote(shard)} but that shard does not contain it`)
    out.set(name, view)
  }
  if (out.size === 0) fail('"weight_map" is empty')
  return out
}
