// Post-processors from tokenizer.json: add the model's special tokens around encoded sequences
// ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>, templates) and assign type ids, as the Rust
// crate's PostProcessor::process_encodings. `single` is the ids-only shortcut encode() uses.

import { trimOffsets } from './byte-level-offsets.js'
import { type RawEncoding, setSequenceId, setTypeIds, specialEncoding } from './encoding.js'
import { TokenizerError, unsupported } from './errors.js'

export interface PostProcessor {
  /** Special tokens added to one sequence, or to a pair. */
  addedTokens(isPair: boolean): number
  /** The ids of one sequence with its special tokens. */
  single(ids: number[]): number[]
  /** The per-sequence encodings after this processor (not yet merged). */
  processEncodings(encodings: RawEncoding[], addSpecialTokens: boolean): RawEncoding[]
}

type Json = Record<string, unknown>

const SUPPORTED = ['TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence']

/** `["[SEP]", 102]` → ["[SEP]", 102] */
function tokenPair(v: unknown, where: string): [string, number] {
  if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') return [v[0], v[1]]
  throw new TokenizerError(`tokenizer.json: ${where} expects a [token, id] pair, got ${JSON.stringify(v)}`)
}

/** `e` wrapped in `before` … `after` special tokens, with the sequence's range recorded as `sequenceId`. */
function wrap(
  e: RawEncoding,
  before: [string, number][],
  after: [string, number][],
  typeIds: [number, number],
  sequenceId: number,
): RawEncoding {
  const b = before.length
  return {
    ids: [...before.map((t) => t[1]), ...e.ids, ...after.map((t) => t[1])],
    tokens: [...before.map((t) => t[0]), ...e.tokens, ...after.map((t) => t[0])],
    typeIds: [...before.map(() => typeIds[0]), ...e.typeIds, ...after.map(() => typeIds[1])],
    specialTokensMask: [...before.map(() => 1), ...e.ids.map(() => 0), ...after.map(() => 1)],
    offsets: [
      ...before.map((): [number, number] => [0, 0]),
      ...e.offsets,
      ...after.map((): [number, number] => [0, 0]),
    ],
    wordIds: [...before.map(() => null), ...e.wordIds, ...after.map(() => null)],
    ranges: new Map([[sequenceId, [b, b + e.ids.length]]]),
    source: e.source,
  }
}

function bert(c: Json): PostProcessor {
  const cls = tokenPair(c.cls, 'BertProcessing')
  const sep = tokenPair(c.sep, 'BertProcessing')
  return {
    addedTokens: (isPair) => (isPair ? 3 : 2),
    single: (ids) => [cls[1], ...ids, sep[1]],
    processEncodings: (encodings, add) =>
      add
        ? encodings.map((e, i) =>
            i === 0 ? wrap(e, [cls], [sep], [0, 0], 0) : wrap(e, [], [sep], [1, 1], 1),
          )
        : encodings,
  }
}

function roberta(c: Json): PostProcessor {
  const cls = tokenPair(c.cls, 'RobertaProcessing')
  const sep = tokenPair(c.sep, 'RobertaProcessing')
  const trim = c.trim_offsets !== false
  const addPrefixSpace = c.add_prefix_space !== false
  return {
    addedTokens: (isPair) => (isPair ? 4 : 2),
    single: (ids) => [cls[1], ...ids, sep[1]],
    processEncodings: (encodings, add) => {
      if (trim) for (const e of encodings) trimOffsets(e, addPrefixSpace)
      // RoBERTa gives every token type id 0, the second sequence's too.
      for (const e of encodings) setTypeIds(e, 0)
      if (!add) return encodings
      return encodings.map((e, i) =>
        i === 0 ? wrap(e, [cls], [sep], [0, 0], 0) : wrap(e, [sep], [sep], [0, 0], 1),
      )
    },
  }
}

function byteLevel(c: Json): PostProcessor {
  const trim = c.trim_offsets !== false
  const addPrefixSpace = c.add_prefix_space !== false
  return {
    addedTokens: () => 0,
    single: (ids) => ids,
    processEncodings: (encodings) => {
      encodings.forEach((e, i) => {
        if (trim) trimOffsets(e, addPrefixSpace)
        setSequenceId(e, i)
      })
      return encodings
    },
  }
}

interface TemplatePiece {
  sequence?: 0 | 1
  special?: { ids: number[]; tokens: string[] }
  typeId: number
}

function parseTemplate(
  pieces: unknown,
  specials: Record<string, { ids?: number[]; tokens?: string[] }>,
): TemplatePiece[] {
  return ((pieces ?? []) as Json[]).map((piece) => {
    const seq = piece.Sequence as { id?: string; type_id?: number } | undefined
    if (seq) return { sequence: seq.id === 'B' ? 1 : 0, typeId: seq.type_id ?? 0 }
    const special = piece.SpecialToken as { id?: string; type_id?: number } | undefined
    if (!special)
      throw new TokenizerError(`tokenizer.json: bad TemplateProcessing piece ${JSON.stringify(piece)}`)
    const def = specials[String(special.id)]
    if (!def?.ids)
      throw new TokenizerError(
        `tokenizer.json: TemplateProcessing special token "${special.id}" is undefined`,
      )
    return { special: { ids: def.ids, tokens: def.tokens ?? [] }, typeId: special.type_id ?? 0 }
  })
}

function template(c: Json): PostProcessor {
  const specials = (c.special_tokens ?? {}) as Record<string, { ids?: number[]; tokens?: string[] }>
  const single = parseTemplate(c.single, specials)
  const pair = parseTemplate(c.pair, specials)
  const count = (t: TemplatePiece[]) => t.reduce((n, p) => n + (p.special?.ids.length ?? 0), 0)
  const before: number[] = []
  const after: number[] = []
  let seenSequence = false
  for (const piece of single) {
    if (piece.sequence !== undefined) seenSequence = true
    else (seenSequence ? after : before).push(...piece.special!.ids)
  }
  return {
    addedTokens: (isPair) => count(isPair ? pair : single),
    single: (ids) => [...before, ...ids, ...after],
    processEncodings: (encodings, add) => {
      const out: RawEncoding[] = []
      for (const piece of encodings.length === 2 ? pair : single) {
        if (piece.sequence !== undefined) {
          const e = encodings[piece.sequence]
          if (!e) throw new TokenizerError('TemplateProcessing: the single template refers to $B')
          setTypeIds(e, piece.typeId)
          setSequenceId(e, piece.sequence)
          out.push({ ...e, ids: [...e.ids], ranges: new Map(e.ranges) })
        } else if (add) {
          out.push(specialEncoding(piece.special!.ids, piece.special!.tokens, piece.typeId))
        }
      }
      return out
    },
  }
}

function sequence(c: Json): PostProcessor {
  const steps = ((c.processors as unknown[]) ?? []).map(createPostProcessor).filter((p) => p !== undefined)
  return {
    addedTokens: (isPair) => steps.reduce((n, p) => n + p.addedTokens(isPair), 0),
    single: (ids) => {
      for (const step of steps) ids = step.single(ids)
      return ids
    },
    processEncodings: (encodings, add) => {
      for (const step of steps) encodings = step.processEncodings(encodings, add)
      return encodings
    },
  }
}

export function createPostProcessor(cfg: unknown): PostProcessor | undefined {
  if (cfg === null || cfg === undefined) return undefined
  const c = cfg as Json
  switch (c.type) {
    case 'TemplateProcessing':
      return template(c)
    case 'BertProcessing':
      return bert(c)
    case 'RobertaProcessing':
      return roberta(c)
    case 'ByteLevel':
      return byteLevel(c)
    case 'Sequence':
      return sequence(c)
    default:
      return unsupported('post-processor', c.type, SUPPORTED)
  }
}
