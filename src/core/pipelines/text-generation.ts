// text-generation: the decoder path (llama, mistral, qwen2, gpt2) behind the same pipeline()
// call, shaped as transformers.js: [{ generated_text }] per prompt, the prompt included unless
// returnFullText is false; a conversation (a list of messages) goes through the chat template.
import { InputError } from '../errors.js'
import type { GenerateOptions } from '../runtime/generate.js'
import type { Model } from '../runtime/model.js'
import type { ChatMessage } from '../tokenizer/index.js'

export interface TextGenerationOptions extends GenerateOptions {
  /** Put the prompt before the generated text (default true, as transformers). */
  returnFullText?: boolean
}

export interface GeneratedText {
  generated_text: string
}

function isConversation(x: unknown): x is ChatMessage[] {
  return Array.isArray(x) && x.length > 0 && typeof x[0] === 'object' && x[0] !== null && 'role' in x[0]
}

export function textGeneration(model: Model) {
  return async (
    input: string | readonly string[] | ChatMessage[],
    opts: TextGenerationOptions = {},
  ): Promise<GeneratedText[] | GeneratedText[][]> => {
    const { returnFullText = true, ...generate } = opts
    const conversation = isConversation(input)
    const prompts = conversation
      ? [model.tokenizer.applyChatTemplate(input, { addGenerationPrompt: true })]
      : typeof input === 'string'
        ? [input]
        : [...(input as readonly string[])]
    for (const p of prompts)
      if (typeof p !== 'string') throw new InputError(`prompts must be strings, got ${typeof p}`)
    const run = model.generateMany(
      prompts,
      conversation ? { addSpecialTokens: false, ...generate } : generate,
    )
    let step = await run.next()
    while (!step.done) step = await run.next()
    const results = step.value.map((r, i) => [
      { generated_text: returnFullText ? prompts[i] + r.text : r.text },
    ])
    return typeof input === 'string' || conversation ? results[0] : results
  }
}
