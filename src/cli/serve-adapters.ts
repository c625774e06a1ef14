// `kiln serve --adapter NAME=DIR` (repeatable) and the serve.adapters setting (NAME=DIR,NAME=DIR):
// the LoRA adapters served beside the model, by the name requests give as their `model`.
import { UsageError } from '../core/errors.js'
import type { HubOptions } from '../core/hub/config.js'
import { fetchAdapter } from './fetch-model.js'

/** Adapter name → its folder or repo id, in the order given. */
export type AdapterSpecs = Record<string, string>

/** Parses NAME=DIR specs; `from` names where they came from (--adapter, serve.adapters). */
export function parseAdapterSpecs(specs: string[], from: string): AdapterSpecs {
  const out: AdapterSpecs = {}
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    const name = spec.slice(0, eq).trim()
    const dir = spec.slice(eq + 1).trim()
    if (eq < 0 || name === '' || dir === '')
      throw new UsageError(`${from} ${spec}: expected NAME=DIR (the name requests use, then the adapter)`)
    if (Object.hasOwn(out, name)) throw new UsageError(`${from}: the name ${name} is given twice`)
    out[name] = dir
  }
  return out
}

/** The adapters' local folders, repo ids fetched through the cache. */
export async function fetchAdapters(specs: AdapterSpecs, hub: HubOptions | undefined): Promise<AdapterSpecs> {
  const out: AdapterSpecs = {}
  for (const [name, dir] of Object.entries(specs)) out[name] = await fetchAdapter(dir, hub)
  return out
}
