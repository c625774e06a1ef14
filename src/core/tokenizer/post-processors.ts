// Post-processors from tokenizer.json: add the model's special tokens around encoded sequences
// ([CLS] A [SEP] B [SEP], <s> A </s></s> B </s>, templates) and assign type ids, as the Rust
// crate's PostProcessor::process_encodings. `single` is the ids-only shortcut encode() uses.

import { quote, shown } from '../util/shown.js'
import { trimOffsets } from './byte-level-offsets.js'
import { type RawEncoding, setSequenceId, setTypeIds, specialEncoding } from './encoding.js'
import { TokenizerError, unsupported } from './errors.js'
import { countField, isObject, type Json, listField, StageCount } from './fields.js'

export interface PostProcessor {
  /** Special tokens added to one sequence, or to a pair. */
  addedTokens(isPair: boolean): number
  /**
   * Every special token the processor may add, with where it is defined: the Tokenizer checks the
   * ids like any token id (vocab.ts checkTokenId), as encode hands them out.
   */
  readonly specials: readonly SpecialToken[]
  /** The ids of one sequence with its special tokens. */
  single(ids: number[]): number[]
  /** The per-sequence encodings after this processor (not yet merged). */
  processEncodings(encodings: RawEncoding[], addSpecialTokens: boolean): RawEncoding[]
}

/** A special token a post-processor adds, and the field that defines it (for messages). */
export interface SpecialToken {
  token: string
  id: unknown
  where: string
}

const SUPPORTED = ['TemplateProcessing', 'BertProcessing', 'RobertaProcessing', 'ByteLevel', 'Sequence']

/** `["[SEP]", 102]` → ["[SEP]", 102] */
function tokenPair(v: unknown, where: string): [string, number] {
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'number')
    return [v[0], v[1]]
  throw new TokenizerError(`tokenizer.json: ${where} expects a [token, id] pair, got ${shown(v)}`)
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
  // concat, not spreads: the sequence may be hundreds of thousands of tokens long.
  const around = <T>(values: readonly T[], pre: T[], post: T[]) => pre.concat(values as T[], post)
  const each = <T>(list: [string, number][], value: T) => list.map(() => value)
  return {
    ids: around(
      e.ids,
      before.map((t) => t[1]),
      after.map((t) => t[1]),
    ),
    tokens: around(
      e.tokens,
      before.map((t) => t[0]),
      after.map((t) => t[0]),
    ),
    typeIds: around(e.typeIds, each(before, typeIds[0]), each(after, typeIds[1])),
    specialTokensMask: around(new Array<number>(e.ids.length).fill(0), each(before, 1), each(after, 1)),
    offsets: around(
      e.offsets,
      before.map((): [number, number] => [0, 0]),
      after.map((): [number, number] => [0, 0]),
    ),
    wordIds: around<number | null>(e.wordIds, each(before, null), each(after, null)),
    ranges: new Map([[sequenceId, [b, b + e.ids.length]]]),
    source: e.source,
  }
}

function bert(c: Json): PostProcessor {
  const cls = tokenPair(c.cls, 'BertProcessing "cls"')
  const sep = tokenPair(c.sep, 'BertProcessing "sep"')
  return {
    addedTokens: (isPair) => (isPair ? 3 : 2),
    specials: [
      { token: cls[0], id: cls[1], where: 'BertProcessing "cls"' },
      { token: sep[0], id: sep[1], where: 'BertProcessing "sep"' },
    ],
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
  const cls = tokenPair(c.cls, 'RobertaProcessing "cls"')
  const sep = tokenPair(c.sep, 'RobertaProcessing "sep"')
  const trim = c.trim_offsets !== false
  const addPrefixSpace = c.add_prefix_space !== false
  return {
    addedTokens: (isPair) => (isPair ? 4 : 2),
    specials: [
      { token: cls[0], id: cls[1], where: 'RobertaProcessing "cls"' },
      { token: sep[0], id: sep[1], where: 'RobertaProcessing "sep"' },
    ],
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
    specials: [],
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

type SpecialTokens = Map<string, { ids: number[]; tokens: string[] }>

/** TemplateProcessing's `special_tokens`: `{"[CLS]": {"id": "[CLS]", "ids": [101], "tokens": ["[CLS]"]}}`. */
function parseSpecialTokens(value: unknown, specials: SpecialToken[]): SpecialTokens {
  const out: SpecialTokens = new Map()
  if (value === undefined || value === null) return out
  const where = 'TemplateProcessing "special_tokens"'
  if (!isObject(value))
    throw new TokenizerError(`tokenizer.json: ${where} must be an object, got ${shown(value)}`)
  for (const [name, def] of Object.entries(value)) {
    const at = `${where} ${quote(name)}`
    if (!isObject(def)) throw new TokenizerError(`tokenizer.json: ${at} must be an object, got ${shown(def)}`)
    const ids = listField(def.ids, `${at} "ids"`)
    const tokens = listField(def.tokens, `${at} "tokens"`)
    // The Rust crate's SpecialToken::new refuses lists of different lengths too.
    if (ids.length !== tokens.length)
      throw new TokenizerError(
        `tokenizer.json: ${at} has ${ids.length} ids but ${tokens.length} tokens; they must pair up`,
      )
    tokens.forEach((token, k) => {
      if (typeof token !== 'string')
        throw new TokenizerError(`tokenizer.json: ${at} "tokens" #${k} must be a string, got ${shown(token)}`)
      specials.push({ token, id: ids[k], where: at })
    })
    out.set(name, { ids: ids as number[], tokens: tokens as string[] })
  }
  return out
}

function parseTemplate(pieces: unknown, specials: SpecialTokens, which: string): TemplatePiece[] {
  const where = `TemplateProcessing "${which}"`
  return listField(pieces, where).map((piece, k) => {
    if (!isObject(piece))
      throw new TokenizerError(`tokenizer.json: ${where} piece #${k} must be an object, got ${shown(piece)}`)
    const seq = piece.Sequence
    if (seq !== undefined && seq !== null) {
      if (!isObject(seq) || (seq.id !== 'A' && seq.id !== 'B'))
        throw new TokenizerError(
          `tokenizer.json: ${where} piece #${k} is not a Sequence A or B: ${shown(seq)}`,
        )
      return { sequence: seq.id === 'B' ? 1 : 0, typeId: countField(seq.type_id, `${where} type_id`, 0) }
    }
    const special = piece.SpecialToken
    if (!isObject(special) || typeof special.id !== 'string')
      throw new TokenizerError(`tokenizer.json: bad ${where} piece #${k}: ${shown(piece)}`)
    const def = specials.get(special.id)
    if (!def)
      throw new TokenizerError(
        `tokenizer.json: TemplateProcessing special token ${quote(special.id)} is undefined`,
      )
    return { special: def, typeId: countField(special.type_id, `${where} type_id`, 0) }
  })
}

function template(c: Json): PostProcessor {
  const specialList: SpecialToken[] = []
  const specials = parseSpecialTokens(c.special_tokens, specialList)
  const single = parseTemplate(c.single, specials, 'single')
  const pair = parseTemplate(c.pair, specials, 'pair')
  const count = (t: TemplatePiece[]) => t.reduce((n, p) => n + (p.special?.ids.length ?? 0), 0)
  const before: number[] = []
  const after: number[] = []
  let seenSequence = false
  for (const piece of single) {
    if (piece.sequence !== undefined) seenSequence = true
    else for (const id of piece.special!.ids) (seenSequence ? after : before).push(id)
  }
  return {
    addedTokens: (isPair) => count(isPair ? pair : single),
    specials: specialList,
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

function sequence(c: Json, count: StageCount): PostProcessor {
  const steps: PostProcessor[] = []
  for (const item of listField(c.processors, 'post_processor Sequence "processors"')) {
    const step = build(item, count)
    if (step) steps.push(step)
  }
  return {
    addedTokens: (isPair) => steps.reduce((n, p) => n + p.addedTokens(isPair), 0),
    specials: steps.flatMap((p) => p.specials),
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

/** tokenizer.json's `post_processor` section (null: none). */
export function createPostProcessor(cfg: unknown): PostProcessor | undefined {
  return build(cfg, new StageCount('post-processor'))
}

function build(cfg: unknown, count: StageCount): PostProcessor | undefined {
  if (cfg === null || cfg === undefined) return undefined
  if (!isObject(cfg))
    throw new TokenizerError(`tokenizer.json: a post-processor must be an object, got ${shown(cfg)}`)
  count.add()
  const c = cfg
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
      return sequence(c, count)
    default:
      return unsupported('post-processor', c.type, SUPPORTED)
  }
}
