import { parquetWriteFile } from 'hyparquet-writer'
import { describe, expect, it } from 'vitest'
import { FormatError } from '../../../../src/core/errors.js'
import { readRecords } from '../../../../src/core/train/data/index.js'
import { useTmp } from './helpers.js'

// Parquet files written by hyparquet-writer (hyparquet's companion), with `messages` laid out as
// Hugging Face datasets write it: a list of structs {role, content}.
describe('readRecords on Parquet', () => {
  const tmp = useTmp()

  it('reads text, prompt/completion and nested messages, rows counted from 0', async () => {
    const file = tmp('train.parquet')
    const messages = [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'yo' },
    ]
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'id', data: [7, 8, 9] },
        { name: 'text', data: ['a document', null, null] },
        { name: 'prompt', data: [null, 'Q', null] },
        { name: 'completion', data: [null, 'A', null] },
        { name: 'messages', data: [null, null, messages] },
      ],
      schema: [
        { name: 'root', num_children: 5 },
        { name: 'id', type: 'INT32', repetition_type: 'REQUIRED' },
        { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'prompt', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'completion', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'messages', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
        { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      ],
    })
    // The id column is not read; null cells read as absent fields.
    expect(await readRecords(file)).toEqual([
      { fields: { text: 'a document' }, where: `${file} row 0` },
      { fields: { prompt: 'Q', completion: 'A' }, where: `${file} row 1` },
      { fields: { messages }, where: `${file} row 2` },
    ])
  })

  it('names the columns it needs when a file has none of them', async () => {
    const file = tmp('other.parquet')
    parquetWriteFile({ filename: file, columnData: [{ name: 'question', data: ['q'], type: 'STRING' }] })
    await expect(readRecords(file)).rejects.toThrow(
      `${file} has none of the columns text, prompt, completion, messages (it has question)`,
    )
  })

  it('refuses a file that is not Parquet', async () => {
    const file = tmp('fake.parquet', '{"text":"not parquet at all"}\n')
    const err = await readRecords(file).catch((e) => e)
    expect(err).toBeInstanceOf(FormatError)
    expect(err.message).toMatch(/is not a readable Parquet file: /)
  })
})
