// MODEL and --adapter arguments of the commands: a local path as it is, a repo id fetched through
// the cache on first use, with the download's progress (and warnings) on stderr.
import type { HubOptions } from '../core/hub/config.js'
import type { DownloadListener } from '../core/hub/events.js'
import { resolveAdapterArg, resolveModelArg } from '../core/hub/model-arg.js'
import { downloadProgress } from './progress/download-progress.js'

type Resolver = (arg: string, hub: HubOptions | undefined, onEvent: DownloadListener) => Promise<string>

async function withProgress(resolve: Resolver, arg: string, hub: HubOptions | undefined): Promise<string> {
  const progress = downloadProgress()
  try {
    return await resolve(arg, hub, progress.onEvent)
  } finally {
    progress.stop()
  }
}

export function fetchModel(model: string, hub: HubOptions | undefined): Promise<string> {
  return withProgress(resolveModelArg, model, hub)
}

/** A PEFT adapter folder, or an adapter repo id (its adapter_config.json and weights). */
export function fetchAdapter(adapter: string, hub: HubOptions | undefined): Promise<string> {
  return withProgress(resolveAdapterArg, adapter, hub)
}
