// The chat template limits (src/core/tokenizer/template-limits.ts): an operation that would make a
// value past the limits is refused BEFORE it runs, from the sizes of its operands (a 500 MB indent
// is never built), and ordinary templates render as before.

import { describe, expect, it } from 'vitest'
import { ChatTemplate } from '../../../src/core/tokenizer/chat-template.js'
import { TokenizerError } from '../../../src/core/tokenizer/index.js'
import { TEMPLATE_LIMITS } from '../../../src/core/tokenizer/template-limits.js'

const CHAT = [
  { role: 'user', content: 'hi' },
  { role: 'assistant', content: 'yo' },
]

function render(source: string, messages: { role: string; content: string }[] = CHAT): string {
  return new ChatTemplate(source, { bos_token: '<s>', eos_token: '</s>' }).render(messages, true)
}

function refusal(source: string, messages?: { role: string; content: string }[]): string {
  const t0 = performance.now()
  try {
    render(source, messages)
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerError)
    const message = (e as TokenizerError).message
    expect(message).not.toMatch(/[\r\n]/)
    expect(performance.now() - t0, source).toBeLessThan(10_000)
    return message
  }
  throw new Error(`expected ${source} to be refused`)
}

/** A namespace string `s` of 2^n copies of `unit`, built by doubling (the way a hostile template would). */
const doubled = (unit: string, n: number) =>
  `{% set ns = namespace(s='${unit}', l=[1]) %}{% for i in range(${n}) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}`
/** A namespace list `l` of 2^n ones. */
const longList = (n: number) =>
  `{% set ns = namespace(l=[1]) %}{% for i in range(${n}) %}{% set ns.l = ns.l + ns.l %}{% endfor %}`
/** A namespace list `l` nested 40 levels deep, each level the one below twice: 2^40 leaves spelled out. */
const nestedList = `{% set ns = namespace(l=['x']) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}`

describe('chat template operations that would make a huge value are refused before they run', () => {
  const { valueSize, listItems } = TEMPLATE_LIMITS
  const refused = (what: string) => new RegExp(`^chat template ${what}.*: refused$`)

  it('filters with a size argument: indent, join, tojson, replace', () => {
    expect(refusal("{{ 'x\\nx' | indent(500000000) }}")).toMatch(
      refused(`indents a string into a value of more than ${valueSize} characters`),
    )
    // Many lines, each indented by a modest width.
    expect(refusal(`${doubled('a\\n', 19)}{{ ns.s | indent(40, true, true) }}`)).toMatch(refused('indents'))
    expect(refusal(`${doubled(`${'a'.repeat(30)}\\n`, 19)}{{ ns.s | indent }}`)).toMatch(refused('indents'))
    // A join whose separator multiplies the string.
    expect(refusal(`${doubled('ab', 12)}{% set t = ns.s %}{{ ns.s | join(t) }}`)).toMatch(
      refused('joins a string'),
    )
    expect(refusal(`${doubled('ab', 22)}{{ ns.s | join(',') }}`)).toMatch(
      refused(`spreads a string into a list of more than ${listItems} items`),
    )
    expect(
      refusal(
        `${doubled('ab', 23)}{% set ns.l = [ns.s] %}{% for i in range(5) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | join }}`,
      ),
    ).toMatch(refused('joins a string'))
    expect(refusal('{{ [[[[1, 2]]]] | tojson(indent=100000000) }}')).toMatch(refused('makes JSON'))
    expect(refusal(`${doubled('ab', 22)}{{ [1, 2, 3, 4, 5] | tojson(separators=(ns.s, ':')) }}`)).toMatch(
      refused('makes JSON'),
    )
    expect(refusal(`${doubled('ab', 20)}{{ ns.s | replace('', ns.s) }}`)).toMatch(
      refused('replaces into a string'),
    )
    expect(refusal(`${doubled('ab', 20)}{{ ns.s.replace('a', ns.s) }}`)).toMatch(
      refused('replaces into a string'),
    )
  })

  it('a list of lists printed, concatenated, compared with a string or raised as an error', () => {
    for (const use of [
      '{{ ns.l }}',
      '{{ ns.l | tojson }}',
      '{{ ns.l | string }}',
      "{{ ns.l ~ '' }}",
      "{{ 'a' + ns.l }}",
    ])
      expect(refusal(`${nestedList}${use}`), use).toMatch(/^chat template (prints|makes|concatenates)/)
    expect(refusal(`${nestedList}{{ ns.l == 'a' }}`)).toMatch(refused('compares a list as a string'))
    expect(refusal(`${nestedList}{{ raise_exception(ns.l) }}`)).toMatch(refused('raises an error message'))
  })

  it('long chats printed whole', () => {
    // 200 turns of 100,000 characters (one string, shared): 20 million characters as JSON.
    const content = 'x'.repeat(100_000)
    const chat = Array.from({ length: 200 }, () => ({ role: 'user', content }))
    expect(refusal('{{ messages }}', chat)).toMatch(refused('prints a value'))
    expect(refusal('{{ messages | tojson }}', chat)).toMatch(refused('makes JSON'))
    expect(refusal('{{ raise_exception(messages) }}', chat)).toMatch(refused('raises an error message'))
  })

  it('lists: range, split, doubling, repetition, and string slices', () => {
    expect(refusal('{{ range(16000000) | length }}')).toMatch(
      refused(`asks for a range of 16000000 numbers \\(at most ${listItems}\\)`),
    )
    // Each number made costs a step: a million of them runs past the step limit.
    expect(refusal('{{ range(1000000) | length }}')).toMatch(refused('runs (more|longer) than'))
    expect(refusal(`${doubled('a', 23)}{{ ns.s.split('a') | length }}`)).toMatch(
      refused(`splits a string into a list of more than ${listItems} items`),
    )
    expect(refusal(`${doubled('a ', 22)}{{ ns.s.split() | length }}`)).toMatch(refused('splits a string'))
    expect(refusal(`${longList(40)}{{ ns.l | length }}`)).toMatch(
      refused(`concatenates a list of more than ${listItems} items`),
    )
    // Repetition: refused by this version of @huggingface/jinja as an unknown operator, and by the
    // limits first if a later one supports it.
    expect(refusal("{{ ('ab' * 500000000) | length }}")).toMatch(
      /^chat template (repeats|: Unknown operator)/,
    )
    expect(refusal('{{ ([1] * 500000000) | length }}')).toMatch(/^chat template (repeats|: Unknown operator)/)
    // A reversed slice spreads the string into an array of characters: refused for a long string.
    expect(refusal(`${doubled('ab', 22)}{{ ns.s[::-1] | length }}`)).toMatch(refused('slices a string'))
    expect(refusal(`${doubled('%B', 22)}{{ strftime_now(ns.s) | length }}`)).toMatch(
      refused('formats a date'),
    )
  })

  it("calls of the library's replacer (one a match, a word, a character) are charged to the step budget", () => {
    // A count does not stop the replacer: past it, each match is given back, one call each.
    expect(refusal(`${doubled('a', 24)}{{ ns.s.replace('a', 'b', 3) | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${doubled('a', 24)}{{ ns.s | replace('a', 'b') | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${doubled('a ', 23)}{{ ns.s | title | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${doubled('a ', 23)}{{ ns.s.title() | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${doubled('é', 23)}{{ ns.s | tojson(ensure_ascii=true) | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${doubled('%Y', 20)}{{ strftime_now(ns.s) | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    // Defining a macro walks its body: a big macro defined in a loop.
    expect(
      refusal(
        `{% for i in range(100000) %}{% macro f(m) %}${'{{ m }}'.repeat(3000)}{% endmacro %}{% endfor %}`,
      ),
    ).toMatch(refused('runs (more|longer) than'))
    // Sorting compares strings lowercased, a copy each comparison.
    expect(
      refusal(
        `${doubled('ab', 23)}{% set ns.l = [ns.s] %}{% for i in range(10) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | sort | length }}`,
      ),
    ).toMatch(refused('runs (more|longer) than'))
    const entries = Array.from({ length: 8 }, (_, i) => `'k${i}': ns.s`).join(', ')
    for (const sort of ["dictsort(by='value')", 'dictsort'])
      expect(refusal(`${doubled('ab', 22)}{% set d = {${entries}} %}{{ d | ${sort} | length }}`)).toMatch(
        refused('runs (more|longer) than'),
      )
    expect(refusal(`${doubled('ab', 22)}{% set d = {${entries}} %}{{ d.dictsort() | length }}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(
      render("{{ {'b': 1, 'a': 2} | dictsort }}|{{ {'b': 1, 'a': 2}.dictsort() }}|{{ ['b', 'A'] | sort }}"),
    ).toBe('[["a", 2], ["b", 1]]|[["a", 2], ["b", 1]]|["A", "b"]')
    // strftime_now makes two date formatters a call.
    expect(
      refusal(
        "{% macro f(n) %}{% if n > 0 %}{{ strftime_now('%Y') }}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(100) }}",
      ),
    ).toMatch(refused('runs (more|longer) than'))
    expect(render("{{ strftime_now('%Y') | length }}")).toBe('4')
    // indent splits the string into its lines first.
    expect(refusal(`${doubled('\\n', 24)}{{ ns.s | indent(0) | length }}`)).toMatch(
      refused(`splits a string into lines of more than ${TEMPLATE_LIMITS.listItems} items`),
    )
  })

  it('work over a long list is charged to the step budget', () => {
    expect(refusal(`${longList(20)}{% for x in ns.l %}{% endfor %}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${longList(20)}{% for i in range(100) %}{{ ns.l | sort | length }}{% endfor %}`)).toMatch(
      refused('runs (more|longer) than'),
    )
    expect(refusal(`${longList(20)}{% for i in range(10000) %}{{ 5 in ns.l }}{% endfor %}`)).toMatch(
      refused('runs (more|longer) than'),
    )
  })
})

describe('ordinary templates render as before under the limits', () => {
  it('filters, slices, methods and operators', () => {
    expect(render("{{ [1, 2] | tojson(indent=2) }}|{{ {'a': [1, 'x\\ny']} | tojson }}")).toBe(
      '[\n  1,\n  2\n]|{"a": [1, "x\\ny"]}',
    )
    expect(
      render("{{ [1, 2] | tojson(separators=(',', ':')) }}|{{ [1, 'a'] | string }}|{{ [1, 'a'] }}"),
    ).toBe('[1,2]|[1, "a"]|[1, "a"]')
    expect(render("{{ 'abc'[1:] }}|{{ [1, 2, 3][::-1] }}|{{ 'abc'[::-1] }}|{{ 'abc'[-2:] }}")).toBe(
      'bc|[3, 2, 1]|cba|bc',
    )
    expect(render("{{ 'a b  c'.split() | length }}|{{ 'a,b'.split(',') }}|{{ 'abc' | join('-') }}")).toBe(
      '3|["a", "b"]|a-b-c',
    )
    expect(
      render("{{ ['a', 1] | join(', ') }}|{{ 'aXbX'.replace('X', '--') }}|{{ 'ab' | replace('', '.') }}"),
    ).toBe('a, 1|a--b--|.a.b.')
    expect(
      render(
        "{{ 'a\\n\\nb' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(1, blank=true) }}",
      ),
    ).toBe('a\n\n  b|  a\n  b|a\n \n b')
    expect(
      render("{{ 'a' ~ [1] }}|{{ [1] + [2] }}|{{ 2 in [1, 2] }}|{{ 'x' in 'axb' }}|{{ [1] == [1] }}"),
    ).toBe('a1|[1, 2]|true|true|false') // a list converts to a string as JavaScript's join does
    expect(
      render(
        '{% for i in range(3) if i != 1 %}{{ i }}{% endfor %}|{% for k in {"a": 1} %}{{ k }}{% endfor %}',
      ),
    ).toBe('02|a')
  })

  it('title, ensure_ascii and a replace with a count', () => {
    expect(
      render(
        "{{ 'hello world' | title }}|{{ 'ab cd'.title() }}|{{ 'é' | tojson(ensure_ascii=true) }}|{{ 'aaa'.replace('a', 'b', 2) }}",
      ),
    ).toBe('Hello World|Ab Cd|"\\u00e9"|bba')
  })

  it('a long message is sliced, split and printed as JSON', () => {
    const content = `${'word '.repeat(400_000)}end` // 2 million characters, 400,001 words
    const chat = [{ role: 'user', content }]
    expect(render("{{ messages[0]['content'][:4] }}|{{ messages[0]['content'][-3:] }}", chat)).toBe(
      'word|end',
    )
    expect(render("{{ messages[0]['content'].split() | length }}", chat)).toBe('400001')
    expect(render("{{ (messages[0]['content'] | tojson) | length }}", chat)).toBe(String(content.length + 2))
    // A bare join returns the string as it is.
    expect(render("{{ (messages[0]['content'] | join) | length }}", chat)).toBe(String(content.length))
  })

  it('a long chat', () => {
    const chat = Array.from({ length: 2000 }, (_, i) => ({
      role: i % 2 ? 'assistant' : 'user',
      content: `message ${i}\nline two`,
    }))
    const source =
      "{% for m in messages %}{% if loop.index0 == 0 and messages | length > 1 %}<s>{% endif %}<|{{ m.role }}|>{{ m.content | trim | indent(2) }}\n{% endfor %}{{ messages | map(attribute='role') | unique | list | length }}"
    const out = render(source, chat)
    expect(out.split('\n')).toHaveLength(4001)
    expect(out.endsWith('\n2')).toBe(true)
  })

  it('a template error keeps its text on one line, cut short when long', () => {
    expect(refusal("{{ raise_exception('roles must alternate\\nuser/assistant') }}")).toBe(
      'chat template: roles must alternate\\nuser/assistant',
    )
    expect(refusal(`{{ raise_exception('${'x'.repeat(2000)}') }}`)).toMatch(/^chat template: x{500}…$/)
    expect(() => new ChatTemplate("{{ 'a\\\n' }}", {})).toThrow(/^chat template does not parse: [^\n]*$/)
  })
})
