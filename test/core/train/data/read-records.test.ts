import { describe, expect, it } from 'vitest'
import { FormatError, InputError } from '../../../../src/core/errors.js'
import { dataFormat, readRecords } from '../../../../src/core/train/data/index.js'
import { useTmp } from './helpers.js'

describe('readRecords', () => {
  const tmp = useTmp()

  it('reads JSONL, skipping blank lines, each record naming its line', async () => {
    const file = tmp(
      'd.jsonl',
      '\uFEFF{"text":"a"}\r\n\n  \n{"prompt":"p","completion":"c"}\n{"text":"last"}',
    )
    const records = await readRecords(file)
    expect(records).toEqual([
      { fields: { text: 'a' }, where: `${file}:1` },
      { fields: { prompt: 'p', completion: 'c' }, where: `${file}:4` },
      { fields: { text: 'last' }, where: `${file}:5` },
    ])
  })

  it('names file:line and the problem for a malformed JSON line', async () => {
    const file = tmp('bad.ndjson', '{"text":"a"}\n\n{"text": }\n')
    const err = await readRecords(file).catch((e) => e)
    expect(err).toBeInstanceOf(FormatError)
    expect(err.message).toMatch(new RegExp(`^${escapeRegExp(file)}:3: not valid JSON \\(.+\\)$`))
  })

  it('refuses a line that is not an object', async () => {
    const file = tmp('arr.jsonl', '{"text":"a"}\n[1,2]\n')
    await expect(readRecords(file)).rejects.toThrow(`${file}:2: expected a JSON object, got an array`)
  })

  it('refuses a line over the limit, a file over the limit, and text that is not UTF-8', async () => {
    const long = tmp('long.jsonl', `{"text":"a"}\n{"text":"${'x'.repeat(40)}"}\n`)
    const err = await readRecords(long, { maxLineBytes: 32 }).catch((e) => e)
    expect(err).toBeInstanceOf(InputError)
    expect(err.message).toBe(`${long}:2 is longer than 32 bytes`)
    await expect(readRecords(long, { maxFileBytes: 10 })).rejects.toThrow(`${long} is larger than 10 bytes`)
    const binary = tmp('bin.jsonl', new Uint8Array([0x7b, 0x7d, 0x0a, 0xff, 0xfe, 0x0a]))
    await expect(readRecords(binary)).rejects.toThrow(`${binary}:2 is not valid UTF-8 text`)
  })

  it('reads a line longer than the read chunk whole', async () => {
    const text = 'y'.repeat(3 << 20)
    const file = tmp('big.jsonl', `{"text":"${text}"}\n{"text":"z"}\n`)
    const records = await readRecords(file)
    expect(records.map((r) => (r.fields.text as string).length)).toEqual([text.length, 1])
    expect(records[1].where).toBe(`${file}:2`)
  })

  it('reads a JSON array, rows counted from 0', async () => {
    const file = tmp('d.json', JSON.stringify([{ text: 'a' }, { messages: [] }]))
    expect(await readRecords(file)).toEqual([
      { fields: { text: 'a' }, where: `${file} row 0` },
      { fields: { messages: [] }, where: `${file} row 1` },
    ])
    const notArray = tmp('o.json', '{"text":"a"}')
    await expect(readRecords(notArray)).rejects.toThrow(
      `${notArray}: expected a JSON array of objects, got an object`,
    )
    const badRow = tmp('r.json', '[{"text":"a"}, "b"]')
    await expect(readRecords(badRow)).rejects.toThrow(`${badRow} row 1: expected a JSON object, got a string`)
  })

  it('reads plain text as documents separated by blank lines', async () => {
    const file = tmp('notes.txt', '\n\nFirst doc\nsecond line\n\n \n\nSecond doc\r\n\n\n\nThird\n')
    expect(await readRecords(file)).toEqual([
      { fields: { text: 'First doc\nsecond line' }, where: `${file}:3` },
      { fields: { text: 'Second doc' }, where: `${file}:8` },
      { fields: { text: 'Third' }, where: `${file}:12` },
    ])
    const md = tmp('one.md', '# Title\nbody')
    expect((await readRecords(md))[0].fields).toEqual({ text: '# Title\nbody' })
    await expect(readRecords(md, { maxLineBytes: 10 })).rejects.toThrow(
      `${md}:1: the document starting here is longer than 10 bytes (separate documents with a blank line)`,
    )
  })

  it('names a missing file and refuses an empty one', async () => {
    const missing = tmp('nope.jsonl')
    await expect(readRecords(missing)).rejects.toThrow(FormatError)
    await expect(readRecords(missing)).rejects.toThrow(`cannot read ${missing}`)
    const empty = tmp('empty.jsonl', '\n\n')
    await expect(readRecords(empty)).rejects.toThrow(`${empty} holds no training records`)
  })

  it('picks the format by extension', () => {
    expect(['a.jsonl', 'a.NDJSON', 'a.json', 'a.parquet', 'a.txt', 'a.md', 'a'].map(dataFormat)).toEqual([
      'jsonl',
      'jsonl',
      'json',
      'parquet',
      'text',
      'text',
      'text',
    ])
  })
})

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
