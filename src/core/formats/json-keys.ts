// Finds duplicate object keys in JSON text. JSON.parse silently keeps the last of two equal keys,
// but formats such as safetensors forbid duplicates, so a reader has to look at the raw text.

export interface DuplicateKey {
  key: string
  /** Keys of the enclosing objects, outermost first ([] for a top-level key). */
  path: string[]
}

/**
 * Scans `text`, which must already be valid JSON (run JSON.parse first), and returns the first key
 * that repeats within one object, comparing keys after unescaping (so "a" and "\u0061" are equal).
 */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  // One frame per open container: a Set of keys for an object, null for an array.
  const frames: { keys: Set<string> | null; expectKey: boolean; lastKey: string }[] = []
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      let escaped = false
      i++
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d === 0x5c /* \ */) {
          escaped = true
          i += 2
          continue
        }
        if (d === 0x22) break
        i++
      }
      const top = frames[frames.length - 1]
      if (top?.keys && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i)
        if (top.keys.has(key)) {
          return { key, path: frames.slice(0, -1).map((f) => f.lastKey) }
        }
        top.keys.add(key)
        top.lastKey = key
        top.expectKey = false
      }
      i++
      continue
    }
    if (c === 0x7b /* { */) frames.push({ keys: new Set(), expectKey: true, lastKey: '' })
    else if (c === 0x5b /* [ */) frames.push({ keys: null, expectKey: false, lastKey: '' })
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) frames.pop()
    else if (c === 0x2c /* , */) {
      const top = frames[frames.length - 1]
      if (top?.keys) top.expectKey = true
    }
    i++
  }
  return undefined
}
