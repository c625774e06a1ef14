// Reading a tokenizer.json `{token: id}` vocabulary, shared by the models.

import { quote, shown } from '../util/shown.js'
import { TokenizerError, unsupported } from './errors.js'

/**
 * How far past a dense numbering an id may go. Ids index embedding rows and id-indexed tables, so
 * an id of 10^9 in a small vocabulary would have kiln size things by it; real vocabularies number
 * their tokens 0..n-1, with at most small gaps.
 */
export const ID_SLACK = 65_536

/** Throws unless `id` is an integer in [0, limit). */
export function checkTokenId(id: unknown, token: string, limit: number, where: string): asserts id is number {
  if (!(Number.isInteger(id) && (id as number) >= 0 && (id as number) < limit))
    throw new TokenizerError(
      `tokenizer.json: ${where} token ${quote(token, 40)} has id ${shown(id)}; ids must be integers from 0 to ${limit - 1} here`,
    )
}

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
  const entries = Object.entries(vocab as Record<string, unknown>)
  for (const [token, id] of entries) {
    checkTokenId(id, token, entries.length + ID_SLACK, `${where} vocab`)
    map.set(token, id)
    byId[id] = token
    if (id > maxId) maxId = id
  }
  return { map, byId, maxId }
}
