// Chat messages as OpenAI sends them, turned into the model's prompt text by its chat template (or
// one given in its place), as vLLM and transformers' apply_chat_template do.

import type { ChatTemplate } from '../core/tokenizer/chat-template.js'
import type { ChatMessage, Tokenizer } from '../core/tokenizer/index.js'
import { HttpError, toHttpError, unsupported } from './errors.js'
import type { ChatRequestMessage } from './validate.js'

// `developer` is OpenAI's newer name for `system`; templates only know the latter.
const ROLES: Record<string, string> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  assistant: 'assistant',
}

export class ChatPrompt {
  private readonly override?: ChatTemplate

  /** `templateSource`: Jinja text replacing the model's own chat template. */
  constructor(
    private readonly tokenizer: Tokenizer,
    templateSource?: string,
  ) {
    if (templateSource !== undefined) this.override = tokenizer.compileChatTemplate(templateSource)
  }

  get available(): boolean {
    return this.override !== undefined || this.tokenizer.hasChatTemplate
  }

  /** The prompt text for `messages` (`param` names the field in errors: "messages"). */
  render(messages: ChatRequestMessage[], addGenerationPrompt: boolean, param = 'messages'): string {
    if (!this.available)
      throw new HttpError(
        400,
        'this model has no chat template: use /v1/completions, or serve it with a chat template',
        param,
        'no_chat_template',
      )
    if (messages.length === 0) throw new HttpError(400, `${param} must not be empty`, param, 'invalid_value')
    const plain = messages.map((m, i) => toChatMessage(m, `${param}[${i}]`))
    try {
      return this.override
        ? this.override.render(plain, addGenerationPrompt)
        : this.tokenizer.applyChatTemplate(plain, { addGenerationPrompt })
    } catch (e) {
      // A template may refuse a conversation (raise_exception: roles must alternate, …).
      throw toHttpError(e, { inputParam: param })
    }
  }
}

function toChatMessage(m: ChatRequestMessage, at: string): ChatMessage {
  const role = ROLES[m.role]
  if (m.role === 'tool' || m.role === 'function')
    throw unsupported(`${at}.role`, `${m.role} messages (tool calls)`)
  if (!role)
    throw new HttpError(
      400,
      `${at}.role must be one of ${Object.keys(ROLES).join(', ')} (got ${JSON.stringify(m.role)})`,
      `${at}.role`,
      'invalid_value',
    )
  if ('tool_calls' in m && m.tool_calls != null) throw unsupported(`${at}.tool_calls`, 'tool calls')
  const content = m.content
  if (content == null) {
    // An assistant turn may be empty; a question may not.
    if (role === 'assistant') return { role, content: '' }
    throw new HttpError(400, `${at}.content is required`, `${at}.content`, 'missing_required_parameter')
  }
  if (typeof content === 'string') return { role, content }
  const texts = content.map((part, j) => {
    const where = `${at}.content[${j}]`
    if (part.type !== 'text')
      throw unsupported(`${where}.type`, `content parts of type ${JSON.stringify(part.type)}`)
    if (typeof part.text !== 'string')
      throw new HttpError(400, `${where}.text must be a string`, `${where}.text`, 'invalid_type')
    return part.text
  })
  // vLLM's "string" content format: text parts joined by newlines.
  return { role, content: texts.join('\n') }
}
