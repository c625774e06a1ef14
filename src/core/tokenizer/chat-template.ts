// Chat templates: the Jinja template shipped with a model (chat_template.jinja, or
// tokenizer_config.json's `chat_template`) rendered with @huggingface/jinja, with the variables
// transformers' apply_chat_template provides.

import { Template } from '@huggingface/jinja'
import { shown } from '../util/shown.js'
import { TokenizerError } from './errors.js'
import { guardedRender, TemplateLimitError } from './template-limits.js'

export interface ChatMessage {
  role: string
  content: string
}

/** tokenizer_config.json stores special tokens as strings or as AddedToken objects `{content}`. */
export function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content
  }
  return undefined
}

/**
 * Picks the template source: the .jinja file wins; a config list of `{name, template}` yields
 * the one named "default" (transformers' choice), else the first.
 */
export function selectChatTemplate(
  fileTemplate: string | undefined,
  configTemplate: unknown,
): string | undefined {
  if (fileTemplate !== undefined) return fileTemplate
  if (typeof configTemplate === 'string') return configTemplate
  if (Array.isArray(configTemplate)) {
    const named = configTemplate.filter(
      (t): t is { name: string; template: string } => t && typeof t.template === 'string',
    )
    return (named.find((t) => t.name === 'default') ?? named[0])?.template
  }
  return undefined
}

/** Characters of an interpreter's message (or a template's raise_exception text) kept in kiln's. */
const MAX_MESSAGE = 500

/**
 * The message of what the parser or the interpreter threw: the template's own words (raise_exception's
 * text) or the library's, which may echo a piece of the template or a value rendered from the chat.
 * Cut to MAX_MESSAGE characters; KilnError escapes its line breaks.
 */
function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : shown(e)
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text
}

const SPECIAL_TOKEN_KEYS = [
  'bos_token',
  'eos_token',
  'unk_token',
  'pad_token',
  'sep_token',
  'cls_token',
  'mask_token',
]

export class ChatTemplate {
  private readonly template: Template
  private readonly specials: Record<string, string>

  constructor(source: string, config: Record<string, unknown>) {
    try {
      this.template = new Template(source)
    } catch (e) {
      throw new TokenizerError(`chat template does not parse: ${errorText(e)}`)
    }
    this.specials = {}
    for (const key of SPECIAL_TOKEN_KEYS) {
      const content = tokenContent(config[key])
      if (content !== undefined) this.specials[key] = content
    }
  }

  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    try {
      return guardedRender(() =>
        this.template.render({
          ...this.specials,
          messages,
          add_generation_prompt: addGenerationPrompt,
        }),
      )
    } catch (e) {
      if (e instanceof TemplateLimitError) throw new TokenizerError(`chat template ${e.message}: refused`)
      // Also JavaScript's own limits (a string too long: RangeError), and @huggingface/jinja predefines `raise_exception` (and `strftime_now`) as globals and
      // refuses redeclaration; its raise_exception throws a plain Error, re-typed here.
      throw new TokenizerError(`chat template: ${errorText(e)}`)
    }
  }
}
