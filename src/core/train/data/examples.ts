// A record turned into TrainExamples: token ids and, aligned with them, the labels the loss counts
// (-100 where it does not; the loss shifts them itself, as in Hugging Face). Three record kinds,
// picked in TRL's order when a record has several: messages, then prompt + completion, then text.
// Within a sequence length, text is cut into consecutive windows (every token is trained on, as
// transformers' run_clm does); the other two keep their first seqLen tokens (their structure is a
// prompt and its answer, as in TRL), and only that much of them is tokenized.

import { FormatError } from '../../errors.js'
import { type ChatMessage, type Tokenizer, TokenizerError } from '../../tokenizer/index.js'
import { quote } from '../../util/shown.js'
import type { TrainExample } from '../types.js'
import { encodeChunked, encodePrefix, encodeWithOffsetsPrefix } from './long-text.js'
import { kindOf, type TrainRecord } from './read-records.js'

/** Keys of a record an error names at most. */
const MAX_KEYS_NAMED = 8

/** The label of a position the loss ignores (PyTorch's CrossEntropyLoss ignore_index). */
export const IGNORE = -100

/** An example and the record it came from, for messages that name it. */
export interface SourcedExample extends TrainExample {
  where: string
}

/**
 * One window of a long text. A text's labels are its ids: one array serves both (nothing writes an
 * example's arrays). Its `where` is made when asked for (a message), not kept: a text of a million
 * tokens in windows of a few would hold more in those strings than in its ids.
 */
class TextWindow implements SourcedExample {
  constructor(
    readonly ids: number[],
    readonly labels: number[],
    private readonly record: string,
    private readonly first: number,
  ) {}

  get where(): string {
    return `${this.record} (tokens ${this.first}-${this.first + this.ids.length - 1})`
  }
}

/** What one record gives at a sequence length. */
export interface RecordExamples {
  /** One example, or a long text's windows in order (none when the record is skipped). */
  examples: SourcedExample[]
  /** The record (prompt/completion or messages) lost tokens past seqLen. */
  truncated: boolean
  /** The record (text) was longer than seqLen and cut into windows. */
  windowed?: boolean
  /** Why the record gives no example: every token the loss counts lies past seqLen. */
  skipped?: string
}

/** A record's example(s), with the record's own tokens only: what one kind yields. */
interface KindResult {
  /** The ids and labels, already within seqLen (a text's: all of them, windowed after). */
  example: TrainExample
  truncated: boolean
  /** Text: cut into windows of seqLen. */
  windowed?: boolean
}

/**
 * Tokenizes one record for sequences of `seqLen` tokens; throws a FormatError naming the record
 * when it cannot be trained on. A text longer than seqLen becomes consecutive windows of seqLen
 * tokens (the last one shorter, and dropped when it would be a single token), each naming its
 * tokens in `where` (`data.txt:12 (tokens 256-511)`).
 */
export function recordExamples(record: TrainRecord, tokenizer: Tokenizer, seqLen: number): RecordExamples {
  const { where } = record
  const r = kindExample(record, tokenizer, seqLen)
  const { ids, labels } = r.example
  if (r.windowed && ids.length > seqLen) {
    const examples: SourcedExample[] = []
    // A last window of one token is dropped: a sequence of one predicts nothing (the loss shifts
    // the labels), and alone in a step it would make the loss 0 / 0.
    for (let a = 0; a < ids.length - 1; a += seqLen) {
      const b = Math.min(a + seqLen, ids.length)
      const window = ids.slice(a, b)
      examples.push(new TextWindow(window, labels === ids ? window : labels.slice(a, b), where, a))
    }
    return { examples, truncated: false, windowed: true }
  }
  if (r.truncated && !labels.some((l) => l !== IGNORE))
    return { examples: [], truncated: true, skipped: `no token the loss counts within the first ${seqLen}` }
  // A text's labels are its ids, the same array until here.
  return { examples: [{ ids, labels: labels === ids ? [...ids] : labels, where }], truncated: r.truncated }
}

/** Tokenizes one record whole (no sequence length); throws a FormatError naming the record when it cannot be trained on. */
export function toExample(record: TrainRecord, tokenizer: Tokenizer): SourcedExample {
  const { ids, labels } = kindExample(record, tokenizer, Number.POSITIVE_INFINITY).example
  return { ids, labels: labels === ids ? [...ids] : labels, where: record.where }
}

function kindExample(record: TrainRecord, tokenizer: Tokenizer, seqLen: number): KindResult {
  const { fields, where } = record
  let r: KindResult
  if (fields.messages !== undefined) r = chatExample(fields.messages, where, tokenizer, seqLen)
  else if (fields.prompt !== undefined || fields.completion !== undefined) {
    r = promptCompletionExample(fields.prompt, fields.completion, where, tokenizer, seqLen)
  } else if (fields.text !== undefined) r = textExample(fields.text, where, tokenizer)
  else {
    // A record may have any number of keys, of any length: the message names a few, each cut short.
    const keys = Object.keys(fields)
    const named = keys.slice(0, MAX_KEYS_NAMED).map((k) => quote(k, 40))
    if (keys.length > MAX_KEYS_NAMED) named.push(`… ${keys.length} in all`)
    throw new FormatError(
      `${where}: a record needs "text", "prompt" and "completion", or "messages" (it has ${keys.length ? named.join(', ') : 'no fields'})`,
    )
  }
  // A truncated record is judged by what it keeps (a skip, not an error, when that has no label).
  if (!r.truncated && !r.example.labels.some((l) => l !== IGNORE)) {
    throw new FormatError(`${where}: the record has no tokens the loss counts`)
  }
  return r
}

/** The EOS id when the tokenizer names an EOS token it knows. */
function eosId(tokenizer: Tokenizer): number | undefined {
  return tokenizer.eosToken === undefined ? undefined : tokenizer.tokenToId(tokenizer.eosToken)
}

/** `ids` ending with EOS: appended unless the post-processor already put it there. */
function withEos(ids: number[], tokenizer: Tokenizer): number[] {
  const eos = eosId(tokenizer)
  return eos === undefined || ids[ids.length - 1] === eos ? ids : [...ids, eos]
}

/**
 * Plain text (pre-training style): every position counts. The ids are encode's, special tokens
 * included (BOS where the tokenizer adds one), then EOS: the model learns where a document ends,
 * so that generation from a fine-tuned model stops instead of running on into a new document.
 */
function textExample(text: unknown, where: string, tokenizer: Tokenizer): KindResult {
  if (typeof text !== 'string')
    throw new FormatError(`${where}: "text" must be a string, got ${kindOf(text)}`)
  if (text.trim() === '') throw new FormatError(`${where}: "text" is empty`)
  // In chunks: a long text's memory is its ids, not every piece of it at once.
  const ids = encodeChunked(tokenizer, text)
  const eos = eosId(tokenizer)
  if (eos !== undefined && ids[ids.length - 1] !== eos) ids.push(eos)
  // Every position counts: the labels are the ids (recordExamples copies them into each window).
  return { example: { ids, labels: ids }, truncated: false, windowed: true }
}

/**
 * Prompt and completion: the prompt with special tokens (BOS), the completion without them,
 * then EOS. The loss counts the completion and EOS, not the prompt. The two are tokenized apart
 * (as TRL does) so the boundary is exact, even where joint tokenization would merge across it.
 * Only the first seqLen tokens are kept, and only about that much of either text is tokenized.
 */
function promptCompletionExample(
  prompt: unknown,
  completion: unknown,
  where: string,
  tokenizer: Tokenizer,
  seqLen: number,
): KindResult {
  if (typeof prompt !== 'string') {
    throw new FormatError(`${where}: "prompt" must be a string beside "completion", got ${kindOf(prompt)}`)
  }
  if (typeof completion !== 'string') {
    throw new FormatError(
      `${where}: "completion" must be a string beside "prompt", got ${kindOf(completion)}`,
    )
  }
  // One token past seqLen says whether anything was cut.
  const p = encodePrefix(tokenizer, prompt, seqLen + 1)
  // Whether the completion has any token the loss counts, past seqLen or not.
  const c = encodePrefix(tokenizer, completion, Math.max(1, seqLen + 1 - p.ids.length), false)
  const cIds = c.complete ? withEos(c.ids, tokenizer) : c.ids
  if (cIds.length === 0) return { example: { ids: p.ids, labels: p.ids.map(() => IGNORE) }, truncated: false }
  const ids = [...p.ids, ...cIds]
  const labels = [...p.ids.map(() => IGNORE), ...cIds]
  const truncated = !p.complete || !c.complete || ids.length > seqLen
  if (ids.length > seqLen) {
    ids.length = seqLen
    labels.length = seqLen
  }
  return { example: { ids, labels }, truncated }
}

function checkMessages(messages: unknown, where: string): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new FormatError(`${where}: "messages" must be a non-empty array, got ${kindOf(messages)}`)
  }
  messages.forEach((m, i) => {
    const ok =
      m !== null && typeof m === 'object' && typeof m.role === 'string' && typeof m.content === 'string'
    if (!ok) {
      throw new FormatError(`${where}: messages[${i}] must be an object with string "role" and "content"`)
    }
  })
  if (!messages.some((m) => m.role === 'assistant')) {
    throw new FormatError(`${where}: "messages" has no assistant message to learn from`)
  }
  return messages as ChatMessage[]
}

/**
 * The most work chatExample spends rendering prefixes, in characters rendered, each message
 * counting PER_MESSAGE_COST more (the template's own work per message): five seconds or so. A
 * conversation of 100 assistant turns in 300 KB fits, as does one of 300 short turns.
 */
const MAX_PREFIX_RENDER_WORK = 40_000_000
const PER_MESSAGE_COST = 128

/**
 * A conversation rendered with the model's chat template; the loss counts only what the assistant
 * says. Assistant turn i is the text that rendering messages[:i+1] adds to rendering messages[:i]
 * with the generation prompt: its content and the template's end-of-turn tokens (<|im_end|>,
 * </s>), but not the header the generation prompt already gives at inference. No EOS is appended:
 * the template's end of turn is what generation stops on.
 */
function chatExample(raw: unknown, where: string, tokenizer: Tokenizer, seqLen: number): KindResult {
  const messages = checkMessages(raw, where)
  const render = (upTo: number, addGenerationPrompt: boolean): string => {
    try {
      return tokenizer.applyChatTemplate(messages.slice(0, upTo), { addGenerationPrompt })
    } catch (e) {
      // The template's own complaint (roles must alternate…), said about this record.
      if (e instanceof TokenizerError) throw new TokenizerError(`${where}: ${e.message}`)
      throw e
    }
  }
  const full = render(messages.length, false)
  // Each assistant turn renders the conversation up to it twice: work grows with the turns times
  // the length. Past a bound (a few seconds), a conversation of thousands of turns is refused
  // instead of rendering for minutes.
  const turns = messages.reduce((n, m) => n + (m.role === 'assistant' ? 1 : 0), 0)
  if (turns * (full.length + PER_MESSAGE_COST * messages.length) > MAX_PREFIX_RENDER_WORK) {
    throw new FormatError(
      `${where}: the conversation is too long to find its assistant turns (${messages.length} messages, ${turns} from the assistant, ${full.length} characters rendered); split it into shorter conversations`,
    )
  }
  const spans: [number, number][] = []
  for (let i = 0; i < messages.length; i++) {
    if (messages[i].role !== 'assistant') continue
    // Before a leading assistant message there is nothing to render (templates index messages[0]).
    const before = i === 0 ? '' : render(i, true)
    const after = render(i + 1, false)
    if (!after.startsWith(before) || !full.startsWith(after)) {
      throw new FormatError(
        `${where}: the chat template does not render this conversation as a growing prefix at messages[${i}], so its assistant tokens cannot be told apart`,
      )
    }
    if (after.length > before.length) spans.push([before.length, after.length])
  }
  // As generate does for a chat prompt: the template writes its own special tokens (BOS), so encode
  // adds none, and training sees exactly the ids inference will. Only seqLen + 1 tokens (one more
  // says whether any were cut) are tokenized, from a prefix of the text: a long conversation costs
  // what it keeps.
  const enc = Number.isFinite(seqLen)
    ? encodeWithOffsetsPrefix(tokenizer, full, seqLen + 1)
    : tokenizer.encodeWithOffsets(full, { addSpecialTokens: false })
  const truncated = enc.ids.length > seqLen
  const ids = truncated ? enc.ids.slice(0, seqLen) : enc.ids
  const labels = ids.map((id, t) => (inSpans(enc.offsets[t][0], spans) ? id : IGNORE))
  return { example: { ids, labels }, truncated }
}

/**
 * Whether a token starting at character `start` belongs to an assistant span: a token is the
 * assistant's when it begins in the assistant's text (one straddling a span's start, rare at
 * template boundaries, is the prompt's).
 */
function inSpans(start: number, spans: readonly [number, number][]): boolean {
  for (const [a, b] of spans) if (start >= a && start < b) return true
  return false
}
