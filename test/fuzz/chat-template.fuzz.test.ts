// Fuzz target chat-template: Tokenizer.compileChatTemplate over random Jinja programs (loops,
// ranges, recursion through macros, filters, string repetition, namespaces, raise_exception) and
// mutated fixture templates, rendered with hostile messages. The template limits
// (src/core/tokenizer/template-limits.ts) must turn every runaway template into a TokenizerError
// within the stated per-case bound, and nothing may get past them to take the process down. Pure
// JavaScript: in-process (the watchdog reports a render that never returns).
import fc from 'fast-check'
import type { ChatMessage } from '../../src/core/tokenizer/index.js'
import { Tokenizer } from '../../src/core/tokenizer/tokenizer.js'
import { golden } from '../helpers/fixtures.js'
import { caseText, fuzzTarget, jsonCodec, kiln } from './harness.js'
import { EDGE_INTS, hostileString, mutatedText } from './mutate.js'
import { fixtureTemplates } from './seeds.js'

interface Case {
  source: string
  messages: unknown[]
  addGenerationPrompt: boolean
  /** Which fixture's special tokens the template sees. */
  tokenizer: number
}

const tokenizers = ['tok-chatml', 'llama-tiny', 'tok-wordpiece'].map((f) => Tokenizer.fromFolder(golden(f)))

// --- random Jinja programs --------------------------------------------------------------------

const quote = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`
const BIG = [
  3 * 10 ** 8,
  5 * 10 ** 8,
  0,
  1,
  2,
  3,
  10,
  100,
  1000,
  10_000,
  100_000,
  1_000_000,
  10 ** 8,
  10 ** 9,
  2 ** 31,
  2 ** 53,
  -1,
  -(10 ** 9),
]
const bigNum = fc.oneof(fc.constantFrom(...BIG), fc.integer({ min: -5, max: 50 })).map(String)
const names = fc.constantFrom(
  'messages',
  'message',
  'm',
  'x',
  'i',
  'loop.index',
  'loop.index0',
  'loop.length',
  'bos_token',
  'eos_token',
  'add_generation_prompt',
  'ns.v',
  'ns.s',
  'ns.l',
  'ns',
  'undefined_name',
  'messages[0]',
  'messages[-1]',
  'messages[1:]',
  'messages[::-1]',
  "message['role']",
  "message['content']",
  'message.content',
  'messages|length',
)
const FILTERS = [
  'upper',
  'lower',
  'length',
  'join',
  "join(',')",
  'tojson',
  'tojson(indent=2)',
  "replace('a', 'bb')",
  "replace('', 'x')",
  'indent(4)',
  'list',
  'reverse',
  'sort',
  'items',
  "map('upper')",
  "map(attribute='role')",
  "selectattr('role', 'equalto', 'user')",
  "rejectattr('content')",
  'trim',
  'string',
  'int',
  'float',
  'first',
  'last',
  'unique',
  'center(100)',
  "default('x')",
  'safe',
  'title',
  'capitalize',
  'abs',
  'count',
  'dictsort',
  'wordcount',
  'batch(2)',
  'nosuchfilter',
  'tojson(ensure_ascii=true)',
  "tojson(separators=(', ', ': '))",
  'title',
  'split',
  'e',
  'striptags',
]

// Filters with a size argument: the output grows with it before any limit sees the value.
const filter = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FILTERS) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom(
          'indent',
          'center',
          'batch',
          'truncate',
          'wordwrap',
          'tojson(indent=',
          'indent(first=true, width=',
        ),
        bigNum,
      )
      .map(([f, n]) => (f.endsWith('=') ? `${f}${n})` : `${f}(${n})`)),
  },
)

const { expr } = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    names,
    bigNum,
    hostileString.map(quote),
    fc.constantFrom(
      'true',
      'false',
      'none',
      '[]',
      '{}',
      "[1, 'a', none]",
      "{'role': 'user', 'content': 'x'}",
    ),
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom(
          '+',
          '*',
          '~',
          '==',
          '!=',
          'and',
          'or',
          'in',
          'not in',
          '//',
          '%',
          '-',
          '**',
          '<',
          'is',
          'is not',
        ),
        tie('expr'),
      )
      .map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(tie('expr'), filter).map(([e, f]) => `(${e} | ${f})`),
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom(
          'upper()',
          'strip()',
          'split()',
          "split('a')",
          'items()',
          'keys()',
          'values()',
          "startswith('<')",
          "get('role')",
          'lstrip()',
          "replace('a','b')",
          'title()',
        ),
      )
      .map(([e, m]) => `${e}.${m}`),
    fc
      .tuple(bigNum, bigNum, fc.constantFrom('', ', 1', ', -1', ', 0', ', 3'))
      .map(([a, b, c]) => (c ? `range(${a}, ${b}${c})` : `range(${b})`)),
    fc.tuple(hostileString, bigNum).map(([s, n]) => `(${quote(s || 'ab')} * ${n})`),
    tie('expr').map((e) => `raise_exception(${e})`),
    fc.tuple(hostileString, bigNum).map(([s, n]) => `(${quote(`${s}\n${s}`)} | indent(${n}))`),
    fc.tuple(tie('expr'), tie('expr'), tie('expr')).map(([a, c, b]) => `(${a} if ${c} else ${b})`),
    tie('expr').map((e) => `[${e}, ${e}]`),
    // Operations whose result grows with an argument (checked before they run).
    fc
      .tuple(
        tie('expr'),
        fc.constantFrom(
          '| join(',
          "| replace('', ",
          "| replace('a', ",
          ".replace('a', ",
          '.split(',
          '| indent(',
        ),
        tie('expr'),
      )
      .map(([a, f, b]) => `(${a}${f.startsWith('.') ? '' : ' '}${f}${b}))`),
    fc.tuple(tie('expr'), fc.constantFrom('[::-1]', '[1:]', '[:-1]', '[::2]')).map(([e, sl]) => `${e}${sl}`),
    tie('expr').map((e) => `strftime_now(${e})`),
    tie('expr').map((e) => `f(${e})`),
    fc.constant("strftime_now('%Y')"),
  ),
}))

const { body } = fc.letrec<{ body: string }>((tie) => ({
  body: fc
    .array(
      fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        hostileString.map((s) => s.replaceAll('{', '(')),
        expr.map((e) => `{{ ${e} }}`),
        expr.map((e) => `{{- ${e} -}}`),
        fc
          .tuple(fc.constantFrom('x', 'm', 'i', 'message'), expr, tie('body'))
          .map(([v, e, b]) => `{% for ${v} in ${e} %}${b}{% endfor %}`),
        fc
          .tuple(expr, tie('body'))
          .map(
            ([e, b]) =>
              `{% for message in messages %}{% if ${e} %}${b}{% else %}{{ message['content'] }}{% endif %}{% endfor %}`,
          ),
        fc
          .tuple(expr, tie('body'), tie('body'))
          .map(([e, a, b]) => `{% if ${e} %}${a}{% elif ${e} %}${b}{% else %}x{% endif %}`),
        fc
          .tuple(fc.constantFrom('x', 'y', 'ns.v', 'messages'), expr)
          .map(([v, e]) => `{% set ${v} = ${e} %}`),
        fc.constant("{% set ns = namespace(v=0, s='a') %}"),
        // Runaways the limits must stop: one option in three of this one (each costs up to the step
        // limit, a second or two).
        fc.constantFrom(
          '',
          '',
          '{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}',
          '{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}',
          // Big values for the expressions after them (ns.s, ns.l): a long string, a long list, a
          // list of lists 2^40 leaves wide when spelled out.
          "{% set ns = namespace(s='ab', l=[1]) %}{% for i in range(23) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
          "{% set ns = namespace(s='a\n', l=[1]) %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
          "{% set ns = namespace(s='a', l=[1]) %}{% for i in range(20) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
          "{% set ns = namespace(s='a', l=['x']) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}",
        ),
        fc
          .tuple(tie('body'), expr)
          .map(([b, e]) => `{% macro f(n) %}${b}{{ f(n) }}{% endmacro %}{{ f(${e}) }}`),
        fc
          .tuple(tie('body'), bigNum)
          .map(
            ([b, n]) =>
              `{% macro f(n) %}{% if n > 0 %}${b}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(${n}) }}`,
          ),
        fc.constantFrom(
          '{% break %}',
          '{% continue %}',
          '{# c #}',
          '{% generation %}',
          '{% endgeneration %}',
          '{%',
          '{{',
          '}}',
          '%}',
          '{% endfor %}',
          '{% raw %}{{{% endraw %}',
        ),
      ),
      { maxLength: 5 },
    )
    .map((parts) => parts.join('')),
}))

const fixtures = fixtureTemplates()
const JINJA_PIECES = [
  '{{',
  '}}',
  '{%',
  '%}',
  '{% endfor %}',
  '{% endif %}',
  "messages[0]['content']",
  ' * 1000000000',
  '|list',
  'range(1000000000)',
  '(',
  ')',
  '[',
  ']',
  "'",
  '"',
  '\\',
  '\n',
]
const mutatedTemplate = mutatedText(
  fixtures,
  fc.oneof(
    fc.constantFrom(...JINJA_PIECES),
    expr.map((e) => `{{ ${e} }}`),
  ),
  { span: 20, maxEdits: 4 },
)

// --- hostile messages -------------------------------------------------------------------------

const content = fc.oneof(
  { weight: 6, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...EDGE_INTS).map((n) => 'x'.repeat(Math.min(Math.max(n, 0), 1_000_000))),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
)
const message = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      role: fc.oneof(fc.constantFrom('system', 'user', 'assistant', 'tool'), hostileString),
      content,
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
)
const messages = fc.oneof(
  { weight: 8, arbitrary: fc.array(message, { maxLength: 6 }) },
  // Many turns: a chat's cost grows with them.
  {
    weight: 1,
    arbitrary: fc
      .tuple(message, fc.constantFrom(100, 1000, 20_000))
      .map(([m, n]) => Array.from({ length: n }, () => m)),
  },
)

const arbitrary: fc.Arbitrary<Case> = fc.record({
  source: fc.oneof(
    { weight: 3, arbitrary: body },
    { weight: 2, arbitrary: mutatedTemplate },
    { weight: 1, arbitrary: fc.constantFrom(...fixtures) },
  ),
  messages,
  addGenerationPrompt: fc.boolean(),
  tokenizer: fc.nat(tokenizers.length - 1),
})

fuzzTarget<Case>({
  target: 'chat-template',
  arbitrary,
  caseMs: 5_000,
  ciMs: 7_000,
  corpus: jsonCodec<Case>(),
  describeCase: (c) =>
    caseText({ source: c.source, messages: c.messages.length, addGenerationPrompt: c.addGenerationPrompt }),
  run(c) {
    const tok = tokenizers[c.tokenizer % tokenizers.length]
    const compiled = kiln(() => tok.compileChatTemplate(c.source))
    if (!compiled.ok) return 'does not parse'
    const out = kiln(() => compiled.value.render(c.messages as ChatMessage[], c.addGenerationPrompt))
    return out.ok ? 'rendered' : /refused$/.test(out.error.message) ? 'stopped by a limit' : 'render error'
  },
})
