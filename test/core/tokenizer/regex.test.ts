// Oniguruma → JavaScript regex translation (tokenizer.json Split patterns).

import { describe, expect, it } from 'vitest'
import { compileOnigurumaPattern } from '../../../src/core/tokenizer/regex.js'

const all = (pattern: string, s: string) => [...s.matchAll(compileOnigurumaPattern(pattern))].map((m) => m[0])

describe('compileOnigurumaPattern', () => {
  it('expands inline case-insensitive groups without leaking the flag', () => {
    expect(all("(?i:'s|'ll)", "it'S we'Ll 's")).toEqual(["'S", "'Ll", "'s"])
    expect(all('(?i:[a-c])x', 'Ax bx Cx dx')).toEqual(['Ax', 'bx', 'Cx'])
    // The GPT-4o / Llama 4 pattern relies on \p{Lu} staying case-sensitive next to (?i:...).
    const o200k =
      "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
    expect(all(o200k, "helloWORLD HelloWorld's 12345")).toEqual([
      'hello',
      'WORLD',
      ' Hello',
      "World's",
      ' ',
      '123',
      '45',
    ])
  })

  it('keeps named groups and lookarounds intact, even inside (?i:...)', () => {
    expect(all('(?i:(?<word>ab)c)', 'ABC abc')).toEqual(['ABC', 'abc'])
    expect(all('(?P<x>a)(?<=a)b(?!c)', 'ab abc')).toEqual(['ab'])
    expect(all('(?<!x)y', 'xy zy')).toEqual(['y'])
  })

  it('supports a global (?i) prefix', () => {
    expect(all('(?i)abc', 'ABC abc')).toEqual(['ABC', 'abc'])
  })

  it('emulates possessive quantifiers and atomic groups', () => {
    expect(all('a+a', 'aaa')).toEqual(['aaa'])
    expect(all('a++a', 'aaa')).toEqual([])
    expect(all('(?>a+)a', 'aaa')).toEqual([])
    expect(all('[^\\s]?x', ' x ax')).toEqual(['x', 'ax'])
    // Possessive: `?+` keeps the lone "x" it took, so the following `x` cannot match there.
    expect(all('[^\\s]?+x', ' x ax')).toEqual(['ax'])
    expect(all('(?:a++b)++c', 'ababc abab')).toEqual(['ababc'])
  })

  it('treats a quantifier after an interval as stacked, as Oniguruma does', () => {
    expect(all('\\p{N}{2}+', '1 12 123 1234')).toEqual(['12', '12', '1234'])
  })

  it('uses Unicode semantics for \\s, \\w, \\d and .', () => {
    expect(all('\\s', 'a\u0085b\ufeffc d')).toEqual(['\u0085', ' '])
    expect(all('[^\\s]+', 'a\ufeffb c')).toEqual(['a\ufeffb', 'c'])
    expect(all('\\w+', 'café_1 ٣٤ x')).toEqual(['café_1', '٣٤', 'x'])
    expect(all('\\d+', '12 ٣٤ x')).toEqual(['12', '٣٤'])
    expect(all('a.b', 'a\rb a\nb')).toEqual(['a\rb'])
  })

  it('makes ^ and $ line anchors', () => {
    expect(all('^\\w', 'ab\ncd')).toEqual(['a', 'c'])
    expect(all('\\w$', 'ab\ncd')).toEqual(['b', 'd'])
    expect(all('\\A\\w', 'ab\ncd')).toEqual(['a'])
  })

  it('translates escapes JavaScript u-mode rejects', () => {
    expect(all('[!\\"#\\-/]+', 'a!"#-/b')).toEqual(['!"#-/'])
    expect(all('\\x{1F600}', 'x😀y')).toEqual(['😀'])
    expect(all('\\p{Han}+', 'abc漢字def')).toEqual(['漢字'])
    expect(all('\\pL+', 'ab1')).toEqual(['ab'])
    expect(all('a{', 'a{')).toEqual(['a{'])
    expect(all("\\'s", "it's")).toEqual(["'s"])
    expect(all('[[:digit:]]+', 'a12b')).toEqual(['12'])
    expect(all('[\\t-\\r]+', 'a\t\n\rb-c')).toEqual(['\t\n\r'])
    expect(all('[\\x00-\\x1f]', 'a\u0001b')).toEqual(['\u0001'])
    expect(all('\\r?\\n', 'a\r\nb\nc')).toEqual(['\r\n', '\n'])
  })

  it('compiles the DeepSeek punctuation class', () => {
    const p =
      '[!\\"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+'
    expect(all(p, '.Hello world')).toEqual(['.Hello', ' world'])
  })
})
