// MODEL arguments of generate, export and quantize: a local path as it is, a repo id fetched
// through the cache on first use, with the download's progress (and warnings) on stderr.
import type { HubOptions } from '../core/hub/config.js'
import { resolveModelArg } from '../core/hub/model-arg.js'
import { downloadProgress } from './progress/download-progress.js'

export async function fetchModel(model: string, hub: HubOptions | undefined): Promise<string> {
  const progress = downloadProgress()
  try {
    return await resolveModelArg(model, hub, progress.onEvent)
  } finally {
    progress.stop()
  }
}
