// The model that ships in the repository, used when no -m is given: a small llama kiln trained itself
// on the King James Bible (models/default/README.md; scripts/make-default-model.mjs makes it).
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** models/default in the package root (src/core or dist/core → ../..). */
export function defaultModelPath(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'default')
}
