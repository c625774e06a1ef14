// Other programs kiln hands work to (vllm, accelerate), found on PATH as a shell finds them.
import { accessSync, constants, statSync } from 'node:fs'
import nodePath from 'node:path'

/** The first executable `name` on PATH, as a shell would find it. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(nodePath.delimiter)) {
    if (!dir) continue
    const file = nodePath.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      if (statSync(file).isFile()) return file
    } catch {}
  }
  return undefined
}
