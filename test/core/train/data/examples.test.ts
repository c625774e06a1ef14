import { copyFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FormatError } from '../../../../src/core/errors.js'
import { loadTokenizer, TokenizerError } from '../../../../src/core/tokenizer/index.js'
import { IGNORE, type TrainRecord, toExample } from '../../../../src/core/train/data/index.js'
import { GOLDEN } from '../../../helpers/fixtures.js'
import { countedSpans, goldenTokenizer, useTmp } from './helpers.js'

const chatml = goldenTokenizer('tok-chatml')
const llama = goldenTokenizer('tok-sentencepiece')
const rec = (fields: Record<string, unknown>, where = 'd.jsonl:7'): TrainRecord => ({ fields, where })

const conversation = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello you!' },
  { role: 'user', content: 'More?' },
  { role: 'assistant', content: 'Sure thing.' },
]

describe('toExample', () => {
  it('counts every token of a text, BOS included, and appends EOS', () => {
    const e = toExample(rec({ text: 'Hello world' }), llama)
    const eos = llama.tokenToId('</s>') as number
    expect(e.ids).toEqual([...llama.encode('Hello world'), eos])
    expect(e.ids[0]).toBe(llama.tokenToId('<s>'))
    expect(e.labels).toEqual(e.ids)
    expect(e.where).toBe('d.jsonl:7')
    // ChatML's tokenizer adds no BOS; its EOS is <|im_end|>.
    const c = toExample(rec({ text: 'Hello world' }), chatml)
    expect(c.ids).toEqual([...chatml.encode('Hello world'), chatml.tokenToId('<|im_end|>')])
  })

  it('masks the prompt and counts the completion and EOS', () => {
    const e = toExample(rec({ prompt: 'Q: hi', completion: ' A: yo' }), llama)
    const p = llama.encode('Q: hi')
    const c = llama.encode(' A: yo', { addSpecialTokens: false })
    const eos = llama.tokenToId('</s>') as number
    expect(e.ids).toEqual([...p, ...c, eos])
    expect(e.labels).toEqual([...p.map(() => IGNORE), ...c, eos])
  })

  it('counts only the assistant turns of a ChatML conversation, with their end-of-turn tokens', () => {
    const e = toExample(rec({ messages: conversation }), chatml)
    const rendered = chatml.applyChatTemplate(conversation)
    expect(e.ids).toEqual(chatml.encode(rendered, { addSpecialTokens: false }))
    expect(countedSpans(chatml, e.ids, e.labels)).toEqual([
      'Hello you!<|im_end|>\n',
      'Sure thing.<|im_end|>\n',
    ])
    // What the loss ignores is the prompt side, the generation prompt's header included.
    const ignored = e.ids.filter((_, i) => e.labels[i] === IGNORE)
    expect(chatml.decode(ignored)).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n' +
        '<|im_start|>user\nMore?<|im_end|>\n<|im_start|>assistant\n',
    )
    expect(e.labels.every((l, i) => l === IGNORE || l === e.ids[i])).toBe(true)
  })

  it('counts the assistant turns of a Llama 2 conversation, BOS not doubled', () => {
    const e = toExample(rec({ messages: conversation }), llama)
    const bos = llama.tokenToId('<s>')
    expect(e.ids.filter((id) => id === bos)).toHaveLength(2) // one per [INST], from the template
    expect(e.ids).toEqual(llama.encode(llama.applyChatTemplate(conversation), { addSpecialTokens: false }))
    expect(countedSpans(llama, e.ids, e.labels)).toEqual(['Hello you! </s>', 'Sure thing. </s>'])
  })

  it('names the record for missing fields, wrong types and empty text', () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { title: 'x' },
        'd.jsonl:7: a record needs "text", "prompt" and "completion", or "messages" (it has "title")',
      ],
      [{}, 'd.jsonl:7: a record needs "text", "prompt" and "completion", or "messages" (it has no fields)'],
      [{ text: 3 }, 'd.jsonl:7: "text" must be a string, got a number'],
      [{ text: ' \n' }, 'd.jsonl:7: "text" is empty'],
      [{ prompt: 'p' }, 'd.jsonl:7: "completion" must be a string beside "prompt", got nothing'],
      [{ messages: 'hi' }, 'd.jsonl:7: "messages" must be a non-empty array, got a string'],
      [
        { messages: [{ role: 'user' }] },
        'd.jsonl:7: messages[0] must be an object with string "role" and "content"',
      ],
      [
        { messages: [{ role: 'user', content: 'hi' }] },
        'd.jsonl:7: "messages" has no assistant message to learn from',
      ],
    ]
    for (const [fields, message] of cases) {
      let err: unknown
      try {
        toExample(rec(fields), chatml)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(FormatError)
      expect((err as Error).message).toBe(message)
    }
  })

  const tmp = useTmp()
  /** tok-chatml's tokenizer.json with another chat template and no EOS token. */
  function customTokenizer(template: string) {
    const dir = dirname(tmp('tokenizer_config.json', JSON.stringify({ backend: 'tokenizers' })))
    copyFileSync(join(GOLDEN, 'tok-chatml', 'tokenizer.json'), join(dir, 'tokenizer.json'))
    writeFileSync(join(dir, 'chat_template.jinja'), template)
    return loadTokenizer(dir)
  }

  it('refuses a template that does not render conversations as growing prefixes', () => {
    // The number of messages up front: each rendering starts differently.
    const tok = customTokenizer(
      "{{ messages|length }}{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}",
    )
    const messages = [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
    ]
    expect(() => toExample(rec({ messages }), tok)).toThrow(
      'd.jsonl:7: the chat template does not render this conversation as a growing prefix at messages[1], so its assistant tokens cannot be told apart',
    )
  })

  it('refuses a record with no counted token, and names the record in a template error', () => {
    const tok = customTokenizer(
      "{% for m in messages %}{% if m['role'] == 'bad' %}{{ raise_exception('no bad roles') }}{% endif %}{% if m['role'] == 'user' %}{{ m['content'] }}{% endif %}{% endfor %}",
    )
    const silent = [
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
    ]
    expect(() => toExample(rec({ messages: silent }), tok)).toThrow(
      'd.jsonl:7: the record has no tokens the loss counts',
    )
    // Without an EOS token, an empty completion leaves nothing to learn.
    expect(() => toExample(rec({ prompt: 'p', completion: '' }), tok)).toThrow(
      'd.jsonl:7: the record has no tokens the loss counts',
    )
    const err = (() => {
      try {
        toExample(rec({ messages: [{ role: 'bad', content: 'x' }, ...silent] }), tok)
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(TokenizerError)
    expect((err as Error).message).toMatch(/^d\.jsonl:7: .*no bad roles/)
  })
})
