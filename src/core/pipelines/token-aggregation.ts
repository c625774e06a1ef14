// How Python transformers' token-classification pipeline turns tokens into entities, as pure
// functions of the tokens' label scores: each token tagged by its best label ('none', 'simple'),
// or words first — sub-word tokens merged by the first token's label, the average of their
// scores, or the most confident token ('first', 'average', 'max') — then entities grouped by
// their B-/I- tags.
import { argmax } from './scores.js'

export type AggregationStrategy = 'none' | 'simple' | 'first' | 'average' | 'max'
export const STRATEGIES: readonly AggregationStrategy[] = ['none', 'simple', 'first', 'average', 'max']

/** One token (aggregation 'none'). */
export interface TokenEntity {
  entity: string
  score: number
  /** The token's index among the input ids (special tokens counted). */
  index: number
  word: string
  start: number
  end: number
}

/** A group of tokens or words with one entity type (every strategy but 'none'). */
export interface EntityGroup {
  entity_group: string
  score: number
  word: string
  start: number
  end: number
}

/** A non-special token with its label probabilities. */
export interface PreEntity {
  word: string
  scores: ArrayLike<number>
  start: number
  end: number
  index: number
  isSubword: boolean
}

/** The labels by index, and how tokens join into text (the tokenizer's decoder). */
export interface Vocabulary {
  labels: readonly string[]
  tokensToString(tokens: string[]): string
}

interface Tagged {
  entity: string
  score: number
  word: string
  start: number
  end: number
  index: number
}

function tagOf(labels: readonly string[], p: PreEntity): Tagged {
  const best = argmax(p.scores)
  const { word, start, end, index } = p
  return { entity: labels[best], score: p.scores[best], index, word, start, end }
}

const maxOf = (xs: ArrayLike<number>) => Math.max(...Array.from(xs))

/** One word from its tokens, labelled by the strategy. */
function aggregateWord(v: Vocabulary, tokens: PreEntity[], strategy: AggregationStrategy): Tagged {
  let scores: ArrayLike<number>
  if (strategy === 'first') scores = tokens[0].scores
  else if (strategy === 'max') {
    let best = tokens[0]
    for (const t of tokens) if (maxOf(t.scores) > maxOf(best.scores)) best = t
    scores = best.scores
  } else {
    const avg = new Float64Array(v.labels.length)
    for (const t of tokens) for (let k = 0; k < avg.length; k++) avg[k] += t.scores[k] / tokens.length
    scores = avg
  }
  const best = argmax(scores)
  return {
    entity: v.labels[best],
    score: scores[best],
    word: v.tokensToString(tokens.map((t) => t.word)),
    start: tokens[0].start,
    end: tokens[tokens.length - 1].end,
    index: tokens[0].index,
  }
}

/** Tokens grouped into words (a token that is not a sub-word starts one). */
function aggregateWords(v: Vocabulary, pre: PreEntity[], strategy: AggregationStrategy): Tagged[] {
  const words: Tagged[] = []
  let group: PreEntity[] = []
  for (const p of pre) {
    if (group.length > 0 && !p.isSubword) {
      words.push(aggregateWord(v, group, strategy))
      group = []
    }
    group.push(p)
  }
  if (group.length > 0) words.push(aggregateWord(v, group, strategy))
  return words
}

/** B-PER → ['B', 'PER']; a label without a B-/I- prefix continues (as 'I'). */
function splitTag(entity: string): [string, string] {
  if (entity.startsWith('B-')) return ['B', entity.slice(2)]
  if (entity.startsWith('I-')) return ['I', entity.slice(2)]
  return ['I', entity]
}

function groupOf(v: Vocabulary, tagged: Tagged[]): EntityGroup {
  return {
    entity_group: splitTag(tagged[0].entity)[1],
    score: tagged.reduce((s, t) => s + t.score, 0) / tagged.length,
    word: v.tokensToString(tagged.map((t) => t.word)),
    start: tagged[0].start,
    end: tagged[tagged.length - 1].end,
  }
}

/** Consecutive tags of one type merge unless a B- starts a new entity. */
function groupEntities(v: Vocabulary, tagged: Tagged[]): EntityGroup[] {
  const groups: EntityGroup[] = []
  let current: Tagged[] = []
  for (const t of tagged) {
    if (current.length > 0) {
      const [bi, tag] = splitTag(t.entity)
      const [, lastTag] = splitTag(current[current.length - 1].entity)
      if (tag !== lastTag || bi === 'B') {
        groups.push(groupOf(v, current))
        current = []
      }
    }
    current.push(t)
  }
  if (current.length > 0) groups.push(groupOf(v, current))
  return groups
}

/** The entities of one text's tokens, less the ignored labels. */
export function aggregate(
  v: Vocabulary,
  pre: PreEntity[],
  strategy: AggregationStrategy,
  ignore: ReadonlySet<string>,
): TokenEntity[] | EntityGroup[] {
  if (strategy === 'none') return pre.map((p) => tagOf(v.labels, p)).filter((t) => !ignore.has(t.entity))
  const tagged = strategy === 'simple' ? pre.map((p) => tagOf(v.labels, p)) : aggregateWords(v, pre, strategy)
  return groupEntities(v, tagged).filter((g) => !ignore.has(g.entity_group))
}
