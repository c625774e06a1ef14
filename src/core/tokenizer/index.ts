// Public surface of the tokenizer layer: tokenizer.json models, full encodings with offsets,
// chat templates, streaming decode.

import { Tokenizer } from './tokenizer.js'

export type { ChatMessage } from './chat-template.js'
export type { Encoding, EncodingOptions, PadOptions, TruncationStrategy } from './encoding.js'
export { TokenizerError } from './errors.js'
export { StreamDecoder } from './stream-decoder.js'
export { type DecodeOptions, type EncodeOptions, Tokenizer } from './tokenizer.js'

/** Loads the tokenizer of a model folder (same as Tokenizer.fromFolder). */
export function loadTokenizer(dir: string): Tokenizer {
  return Tokenizer.fromFolder(dir)
}
