// Where the integer fields of a valid GGUF file are (counts, string lengths, value types, array
// lengths, dimensions, tensor types and offsets), for structure-aware mutations: a walk of the
// layout (GGUF v3, see reference/FORMATS.md) that trusts the file, which is one kiln wrote.
import type { Field } from './mutate.js'

const SCALAR_SIZE: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
}
const STRING = 8
const ARRAY = 9

export interface GgufLayout {
  fields: Field[]
  /** Where the tensor infos end (the data section starts at the next alignment boundary). */
  headerEnd: number
}

export function ggufLayout(bytes: Uint8Array): GgufLayout {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const fields: Field[] = []
  let pos = 8 // magic, version
  const u32 = (role: string) => {
    fields.push({ at: pos, size: 4, role })
    const v = view.getUint32(pos, true)
    pos += 4
    return v
  }
  const u64 = (role: string) => {
    fields.push({ at: pos, size: 8, role })
    const v = Number(view.getBigUint64(pos, true))
    pos += 8
    return v
  }
  const string = (role: string) => {
    const n = u64(role) // read before adding: `pos += u64()` would add to the position before the length
    pos += n
  }
  const value = (type: number, role: string): void => {
    if (type === STRING) string(`${role} string length`)
    else if (type === ARRAY) {
      const item = u32(`${role} array item type`)
      const n = u64(`${role} array length`)
      // Long arrays (a vocabulary) contribute their first items' fields only; the rest are skipped.
      for (let i = 0; i < n; i++) {
        if (i >= 4 && item !== STRING && item !== ARRAY) {
          pos += (n - i) * SCALAR_SIZE[item]
          break
        }
        if (i >= 4) {
          const keep = fields.length
          value(item, role)
          fields.length = keep
        } else value(item, `${role}[${i}]`)
      }
    } else pos += SCALAR_SIZE[type]
  }
  const tensors = u64('tensor count')
  const kvs = u64('metadata count')
  for (let i = 0; i < kvs; i++) {
    string(`key ${i} length`)
    const type = u32(`key ${i} value type`)
    value(type, `key ${i}`)
  }
  for (let i = 0; i < tensors; i++) {
    string(`tensor ${i} name length`)
    const dims = u32(`tensor ${i} dimension count`)
    for (let d = 0; d < dims; d++) u64(`tensor ${i} dimension ${d}`)
    u32(`tensor ${i} ggml type`)
    u64(`tensor ${i} offset`)
  }
  return { fields, headerEnd: pos }
}
