// Reading a tokenizer.json `{token: id}` vocabulary, shared by the models.

import { unsupported } from './errors.js'

/** Reads a `{token: id}` vocabulary into a Map and an id-indexed array. */
export function readVocab(
  vocab: unknown,
  where: string,
): { map: Map<string, number>; byId: string[]; maxId: number } {
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) {
    return unsupported(`${where} vocab format`, Array.isArray(vocab) ? 'array' : typeof vocab, ['object'])
  }
  const map = new Map<string, number>()
  const byId: string[] = []
  let maxId = -1
  for (const [token, id] of Object.entries(vocab as Record<string, number>)) {
    map.set(token, id)
    byId[id] = token
    if (id > maxId) maxId = id
  }
  return { map, byId, maxId }
}
