// Post-processors from tokenizer.json: add the model's special tokens around an encoded
// sequence ([CLS] … [SEP], <s> …, <|begin_of_text|> …). Only single sequences are supported.

import { TokenizerError, unsupported } from './errors.js'

export type PostProcessor = (ids: number[]) => number[]

type Json = Record<string, unknown>

const SUPPORTED = ['TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence']

/** `["[SEP]", 102]` → 102 */
function tokenPairId(v: unknown, where: string): number {
  if (Array.isArray(v) && typeof v[1] === 'number') return v[1]
  throw new TokenizerError(`tokenizer.json: ${where} expects a [token, id] pair, got ${JSON.stringify(v)}`)
}

function template(c: Json): PostProcessor {
  const specials = (c.special_tokens ?? {}) as Record<string, { ids?: number[] }>
  const single = (c.single ?? []) as Json[]
  // Pre-resolve the template into [prefix ids, suffix ids] around $A.
  const before: number[] = []
  const after: number[] = []
  let seenSequence = false
  for (const piece of single) {
    if (piece.Sequence) {
      seenSequence = true
      continue
    }
    const special = piece.SpecialToken as { id?: string } | undefined
    if (!special)
      throw new TokenizerError(`tokenizer.json: bad TemplateProcessing piece ${JSON.stringify(piece)}`)
    const ids = specials[String(special.id)]?.ids
    if (!ids)
      throw new TokenizerError(
        `tokenizer.json: TemplateProcessing special token "${special.id}" is undefined`,
      )
    if (seenSequence) after.push(...ids)
    else before.push(...ids)
  }
  return (ids) => [...before, ...ids, ...after]
}

export function createPostProcessor(cfg: unknown): PostProcessor | undefined {
  if (cfg === null || cfg === undefined) return undefined
  const c = cfg as Json
  switch (c.type) {
    case 'TemplateProcessing':
      return template(c)
    case 'BertProcessing':
    case 'RobertaProcessing': {
      const cls = tokenPairId(c.cls, c.type)
      const sep = tokenPairId(c.sep, c.type)
      return (ids) => [cls, ...ids, sep]
    }
    case 'ByteLevel':
      // Only trims offsets, which we do not track.
      return (ids) => ids
    case 'Sequence': {
      const steps = ((c.processors as unknown[]) ?? [])
        .map(createPostProcessor)
        .filter((p) => p !== undefined)
      return (ids) => {
        for (const step of steps) ids = step(ids)
        return ids
      }
    }
    default:
      return unsupported('post-processor', c.type, SUPPORTED)
  }
}
