// The Tokenizer: a tokenizer.json pipeline (added tokens → normalizer → pre-tokenizer → model →
// post-processor, and decoder back) plus tokenizer_config.json's special tokens and chat template.
// Matches what transformers (TokenizersBackend) returns for encode/decode.

import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { AddedVocabulary, parseAddedTokens } from './added-tokens.js'
import { type ChatMessage, ChatTemplate, selectChatTemplate, tokenContent } from './chat-template.js'
import { createDecoder, type Decoder } from './decoders.js'
import { encodeWithOffsets, wellFormed } from './encode-offsets.js'
import { type Encoding, type EncodingOptions, type PadOptions, padEncodings } from './encoding.js'
import { TokenizerError } from './errors.js'
import { createModel, type TokenizerModel } from './model.js'
import { createNormalizer } from './normalizers.js'
import { createPostProcessor, type PostProcessor } from './post-processors.js'
import { createPreTokenizer, type PreTokenizerPlan } from './pre-tokenizers.js'
import { readSpecialTokens, type SpecialTokens } from './special-tokens.js'
import { checkTokenId, ID_SLACK } from './vocab.js'

export interface EncodeOptions {
  /** Add the post-processor's special tokens (BOS, [CLS] … [SEP]). Default true. */
  addSpecialTokens?: boolean
}

export interface DecodeOptions {
  /** Drop special added tokens from the text. Default false, as in transformers. */
  skipSpecialTokens?: boolean
}

type Json = Record<string, unknown>

/** Cached pieces; cleared when full, which costs less than LRU bookkeeping on the hot path. */
const PIECE_CACHE_LIMIT = 100_000
/** Like the Rust crate, long pieces are not cached: they rarely repeat. */
const PIECE_CACHE_MAX_LENGTH = 256

function readJson(path: string): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new TokenizerError(`cannot read ${path}: ${(e as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new TokenizerError(`${path} is not valid JSON: ${(e as Error).message}`)
  }
}

/** transformers' clean_up_tokenization, applied when tokenizer_config asks for it. */
function cleanUpTokenization(s: string): string {
  return s
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re")
}

export class Tokenizer {
  /** Largest id (model vocab or added token) + 1: the embedding rows the ids can address. */
  readonly vocabSize: number
  readonly specialIds: ReadonlySet<number>
  readonly bosToken?: string
  readonly eosToken?: string
  readonly hasChatTemplate: boolean
  /** Padding token (tokenizer_config.json's pad_token, else tokenizer.json's padding section or [PAD]/<pad>). */
  readonly padToken?: string
  readonly padTokenId?: number
  /** Mask token for fill-mask (tokenizer_config.json's mask_token, else [MASK]/<mask>). */
  readonly maskToken?: string
  readonly maskTokenId?: number
  /** tokenizer_config.json's model_max_length when it is a real limit (< 1e9), else tokenizer.json's truncation. */
  readonly modelMaxLength?: number
  /** The unknown token's id (tokenizer_config.json's unk_token, else the model's). */
  readonly unkTokenId?: number
  /** The model's continuation marker ("##" for WordPiece), when it has one (NER word grouping). */
  readonly continuingSubwordPrefix?: string

  private readonly added: AddedVocabulary
  private readonly specialContents: Set<string>
  private readonly chatTemplate?: ChatTemplate
  /** raw piece (before ByteLevel's byte mapping) → ids */
  private readonly pieceCache = new Map<string, number[]>()

  private constructor(
    private readonly model: TokenizerModel,
    private readonly preTokenizer: PreTokenizerPlan | undefined,
    private readonly postProcessor: PostProcessor | undefined,
    private readonly decoder: Decoder | undefined,
    added: AddedVocabulary,
    private readonly config: Json,
    chatTemplate: string | undefined,
    private readonly cleanUpSpaces: boolean,
    specialTokens: SpecialTokens,
  ) {
    this.added = added
    const special = added.tokens.filter((t) => t.special)
    this.specialIds = new Set(special.map((t) => t.id))
    this.specialContents = new Set(special.map((t) => t.content))
    let maxId = model.maxId
    const limit = model.maxId + 1 + added.tokens.length + ID_SLACK
    for (const t of added.tokens) {
      checkTokenId(t.id, t.content, limit, 'added')
      if (t.id > maxId) maxId = t.id
    }
    // The post-processor's special tokens are ids encode hands out too: held to the same range.
    for (const t of postProcessor?.specials ?? []) {
      checkTokenId(t.id, t.token, limit, `${t.where} special`)
      if (t.id > maxId) maxId = t.id
    }
    this.vocabSize = maxId + 1
    this.bosToken = tokenContent(config.bos_token)
    this.eosToken = tokenContent(config.eos_token)
    this.chatTemplate = chatTemplate === undefined ? undefined : new ChatTemplate(chatTemplate, config)
    this.hasChatTemplate = this.chatTemplate !== undefined
    this.padToken = specialTokens.padToken
    this.padTokenId =
      specialTokens.padToken === undefined
        ? undefined
        : specialTokens.padId !== undefined && specialTokens.padId < this.vocabSize
          ? specialTokens.padId
          : this.tokenToId(specialTokens.padToken)
    this.maskToken = specialTokens.maskToken
    this.maskTokenId =
      specialTokens.maskToken === undefined ? undefined : this.tokenToId(specialTokens.maskToken)
    this.modelMaxLength = specialTokens.modelMaxLength
    const unk = tokenContent(config.unk_token)
    this.unkTokenId = (unk === undefined ? undefined : this.tokenToId(unk)) ?? model.unkId
    this.continuingSubwordPrefix = model.continuingSubwordPrefix
  }

  /** Loads tokenizer.json (required), tokenizer_config.json and chat_template.jinja (optional). */
  static fromFolder(dir: string): Tokenizer {
    const tokenizerPath = join(dir, 'tokenizer.json')
    if (!existsSync(tokenizerPath)) throw new TokenizerError(`tokenizer.json not found: ${tokenizerPath}`)
    const configPath = join(dir, 'tokenizer_config.json')
    const config = existsSync(configPath) ? readJson(configPath) : undefined
    const templatePath = join(dir, 'chat_template.jinja')
    const template = existsSync(templatePath) ? readFileSync(templatePath, 'utf8') : undefined
    return Tokenizer.fromJSON(readJson(tokenizerPath), config, template)
  }

  static fromJSON(tokenizerJson: unknown, tokenizerConfig?: unknown, chatTemplate?: string): Tokenizer {
    if (tokenizerJson === null || typeof tokenizerJson !== 'object' || !('model' in tokenizerJson)) {
      throw new TokenizerError('tokenizer.json: expected an object with a "model" section')
    }
    return Tokenizer.assemble(tokenizerJson as Json, (m) => createModel(m), tokenizerConfig, chatTemplate)
  }

  /**
   * A tokenizer.json pipeline (normalizer, pre-tokenizer, post-processor, decoder, added tokens;
   * its `model` section is ignored) around a model tokenizer.json cannot describe, such as GGUF's
   * SentencePiece scores (SpmModel).
   */
  static withModel(
    model: TokenizerModel,
    pipeline: Record<string, unknown>,
    tokenizerConfig?: unknown,
    chatTemplate?: string,
  ): Tokenizer {
    return Tokenizer.assemble(pipeline, () => model, tokenizerConfig, chatTemplate)
  }

  private static assemble(
    tj: Json,
    model: (section: unknown) => TokenizerModel,
    tokenizerConfig: unknown,
    chatTemplate: string | undefined,
  ): Tokenizer {
    const config = (tokenizerConfig && typeof tokenizerConfig === 'object' ? tokenizerConfig : {}) as Json
    const normalizer = createNormalizer(tj.normalizer)
    return new Tokenizer(
      model(tj.model),
      createPreTokenizer(tj.pre_tokenizer),
      createPostProcessor(tj.post_processor),
      createDecoder(tj.decoder),
      new AddedVocabulary(parseAddedTokens(tj.added_tokens), normalizer),
      config,
      selectChatTemplate(chatTemplate, config.chat_template),
      config.clean_up_tokenization_spaces === true,
      readSpecialTokens(tj, config),
    )
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const ids: number[] = []
    const split = this.preTokenizer?.split
    this.added.split(
      wellFormed(text),
      (s, atStart) => {
        if (!split) {
          this.encodePiece(s, ids)
          return
        }
        const pieces = split([s], atStart).pieces
        for (let k = 0; k < pieces.length; k++) this.encodePiece(pieces[k], ids)
      },
      (id) => ids.push(id),
    )
    if (opts?.addSpecialTokens === false || !this.postProcessor) return ids
    return this.postProcessor.single(ids)
  }

  /**
   * The full encoding (the Rust crate's `encode(text, pair)` after `setTruncation`): ids, tokens,
   * type ids, masks, offsets into `text` (and `pair`) in UTF-16 units, sequence and word ids.
   */
  encodeWithOffsets(text: string, opts?: EncodingOptions): Encoding {
    return encodeWithOffsets(
      {
        added: this.added,
        preTokenizer: this.preTokenizer,
        model: this.model,
        postProcessor: this.postProcessor,
      },
      text,
      opts,
    )
  }

  /** Pads encodings to `length` (default the longest) with the pad token, on the right unless `side: 'left'`. */
  pad(encodings: readonly Encoding[], opts?: PadOptions): Encoding[] {
    if (this.padTokenId === undefined || this.padToken === undefined) {
      throw new TokenizerError(
        'this tokenizer has no pad token (no pad_token in tokenizer_config.json or padding in tokenizer.json)',
      )
    }
    return padEncodings(encodings, this.padTokenId, this.padToken, opts)
  }

  private encodePiece(piece: string, out: number[]): void {
    let ids = this.pieceCache.get(piece)
    if (ids === undefined) {
      ids = []
      const map = this.preTokenizer?.map
      this.model.tokenize(map ? map(piece) : piece, ids)
      if (piece.length > PIECE_CACHE_MAX_LENGTH) {
        for (let k = 0; k < ids.length; k++) out.push(ids[k])
        return
      }
      if (this.pieceCache.size >= PIECE_CACHE_LIMIT) this.pieceCache.clear()
      this.pieceCache.set(piece, ids)
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k])
  }

  /** Token strings joined back into text by the decoder (transformers' convert_tokens_to_string). */
  tokensToString(tokens: readonly string[]): string {
    return this.decoder ? this.decoder([...tokens]).join('') : tokens.join(' ')
  }

  decode(ids: readonly number[], opts?: DecodeOptions): string {
    const skip = opts?.skipSpecialTokens === true
    const tokens: string[] = []
    for (const id of ids) {
      const token = this.idToToken(id)
      if (token === undefined || (skip && this.specialContents.has(token))) continue
      tokens.push(token)
    }
    const text = this.decoder ? this.decoder(tokens).join('') : tokens.join(' ')
    return this.cleanUpSpaces ? cleanUpTokenization(text) : text
  }

  tokenToId(token: string): number | undefined {
    return this.added.byContent.get(token)?.id ?? this.model.tokenToId(token)
  }

  idToToken(id: number): string | undefined {
    return this.added.byId.get(id)?.content ?? this.model.idToToken(id)
  }

  /**
   * A chat template from Jinja source (one given in place of the model's own), with this
   * tokenizer's special tokens (bos_token …) as its variables. Throws a TokenizerError when it does
   * not parse.
   */
  compileChatTemplate(source: string): ChatTemplate {
    return new ChatTemplate(source, this.config)
  }

  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string {
    if (!this.chatTemplate) {
      throw new TokenizerError(
        'this tokenizer has no chat template (no chat_template.jinja or chat_template in tokenizer_config.json)',
      )
    }
    return this.chatTemplate.render(messages, opts?.addGenerationPrompt === true)
  }
}
