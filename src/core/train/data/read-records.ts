// A local training file read into records, each remembering where it came from so that an error
// about record 48,213 can say "data.jsonl:48213" instead of leaving the user to search for it.
// The format follows the extension: JSONL, a JSON array, Parquet, or plain text documents.

import { readFile, stat } from 'node:fs/promises'
import { extname } from 'node:path'
import {
  type AsyncBuffer,
  asyncBufferFromFile,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
  parquetSchema,
} from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { FormatError, InputError } from '../../errors.js'
import { readLines, sizeText } from './lines.js'

/** One record of a training file: its fields as read, and where it came from. */
export interface TrainRecord {
  fields: Record<string, unknown>
  /** `file:line` (JSONL, text: the document's first line) or `file row N` (JSON array, Parquet; 0-based). */
  where: string
}

export interface ReadRecordsOptions {
  /** Largest file accepted (default 4 GiB). */
  maxFileBytes?: number
  /** Longest JSONL line, and longest text document, accepted (default 64 MiB). */
  maxLineBytes?: number
}

export const MAX_FILE_BYTES = 4 * 1024 * 1024 * 1024
export const MAX_LINE_BYTES = 64 * 1024 * 1024
/** A .json file is parsed as one string, and V8 strings stop near 512 Mi characters: past that, JSONL. */
const MAX_JSON_BYTES = 512 * 1024 * 1024

/** The Parquet columns a record can use (the others, ids or metadata, are not read). */
export const RECORD_COLUMNS = ['text', 'prompt', 'completion', 'messages'] as const

export type DataFormat = 'jsonl' | 'json' | 'parquet' | 'text'

/** The format of a training file by its extension; anything unknown is read as plain text. */
export function dataFormat(file: string): DataFormat {
  const ext = extname(file).toLowerCase()
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl'
  if (ext === '.json') return 'json'
  if (ext === '.parquet') return 'parquet'
  return 'text'
}

/** Reads every record of `file`; throws a FormatError or InputError naming the file (and line or row). */
export async function readRecords(file: string, opts: ReadRecordsOptions = {}): Promise<TrainRecord[]> {
  const maxFile = opts.maxFileBytes ?? MAX_FILE_BYTES
  const maxLine = opts.maxLineBytes ?? MAX_LINE_BYTES
  const format = dataFormat(file)
  let size: number
  try {
    const s = await stat(file)
    if (!s.isFile()) throw new FormatError(`${file} is not a file`)
    size = s.size
  } catch (e) {
    if (e instanceof FormatError) throw e
    throw new FormatError(`cannot read ${file}: ${(e as Error).message}`)
  }
  const limit = format === 'json' ? Math.min(maxFile, MAX_JSON_BYTES) : maxFile
  if (size > limit) {
    const hint =
      format === 'json' && limit < maxFile ? ' (write larger data as JSONL, one object a line)' : ''
    throw new InputError(`${file} is larger than ${sizeText(limit)}${hint}`)
  }
  const records =
    format === 'jsonl'
      ? await readJsonl(file, maxLine)
      : format === 'json'
        ? await readJsonArray(file)
        : format === 'parquet'
          ? await readParquet(file)
          : await readTextDocuments(file, maxLine)
  if (records.length === 0) throw new InputError(`${file} holds no training records`)
  return records
}

async function readJsonl(file: string, maxLine: number): Promise<TrainRecord[]> {
  const records: TrainRecord[] = []
  for await (const { text, line } of readLines(file, maxLine)) {
    if (text.trim() === '') continue
    const where = `${file}:${line}`
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (e) {
      throw new FormatError(`${where}: not valid JSON (${(e as Error).message})`)
    }
    records.push({ fields: asObject(value, where), where })
  }
  return records
}

async function readJsonArray(file: string): Promise<TrainRecord[]> {
  let value: unknown
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(file))
    value = JSON.parse(text)
  } catch (e) {
    throw new FormatError(`${file}: not valid JSON (${(e as Error).message})`)
  }
  if (!Array.isArray(value)) {
    throw new FormatError(`${file}: expected a JSON array of objects, got ${kindOf(value)}`)
  }
  return value.map((v, i) => {
    const where = `${file} row ${i}`
    return { fields: asObject(v, where), where }
  })
}

async function readParquet(file: string): Promise<TrainRecord[]> {
  try {
    const buffer = await asyncBufferFromFile(file)
    const metadata = await parquetMetadataAsync(buffer)
    const names = parquetSchema(metadata).children.map((c) => c.element.name)
    const columns = RECORD_COLUMNS.filter((c) => names.includes(c))
    if (columns.length === 0) {
      throw new FormatError(
        `${file} has none of the columns ${RECORD_COLUMNS.join(', ')} (it has ${names.join(', ') || 'none'})`,
      )
    }
    await checkPages(file, buffer, metadata, columns)
    const rows = await parquetReadObjects({ file: buffer, metadata, columns })
    return rows.map((row, i) => ({ fields: withoutNulls(row), where: `${file} row ${i}` }))
  } catch (e) {
    if (e instanceof FormatError) throw e
    throw new FormatError(`${file} is not a readable Parquet file: ${(e as Error).message}`)
  }
}

/**
 * Walks the page headers of the column chunks `columns` reads, as hyparquet will, and refuses one
 * that lacks a field the format requires or whose sizes do not fit its chunk. hyparquet trusts
 * them: a data page v2 without its levels' byte lengths, for one, makes it read the first byte of
 * the page forever (a hang no caller can interrupt).
 */
async function checkPages(
  file: string,
  buffer: AsyncBuffer,
  metadata: FileMetaData,
  columns: readonly string[],
): Promise<void> {
  const count = (v: unknown): boolean =>
    (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) || (typeof v === 'bigint' && v >= 0n)
  const pages: { where: string; start: number; length: number }[] = []
  metadata.row_groups.forEach((group, g) => {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data
      if (!meta || !columns.includes(meta.path_in_schema[0])) continue
      const where = `${file}: row group ${g}, column ${meta.path_in_schema.join('.')}`
      const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset)
      const length = Number(meta.total_compressed_size)
      if (!(Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(length) && length >= 0)) {
        throw new FormatError(`${where}: its offset or size is not a byte count`)
      }
      if (start + length > buffer.byteLength) {
        throw new FormatError(`${where}: its pages end past the end of the file`)
      }
      pages.push({ where, start, length })
    }
  })
  for (const { where, start, length } of pages) {
    const bytes = await buffer.slice(start, start + length)
    const reader = { view: new DataView(bytes), offset: 0 }
    // hyparquet's own loop: pages until the last byte of the chunk.
    while (reader.offset < length - 1) {
      const at = start + reader.offset
      const h = parquetHeader(reader)
      const v2 = h.data_page_header_v2
      const ok =
        h.type !== undefined &&
        count(h.compressed_page_size) &&
        count(h.uncompressed_page_size) &&
        reader.offset + h.compressed_page_size <= length &&
        (h.type !== 'DATA_PAGE' ||
          (h.data_page_header !== undefined &&
            count(h.data_page_header.num_values) &&
            h.data_page_header.encoding !== undefined)) &&
        (h.type !== 'DATA_PAGE_V2' ||
          (v2 !== undefined &&
            count(v2.num_values) &&
            count(v2.num_nulls) &&
            count(v2.num_rows) &&
            v2.num_nulls <= v2.num_values &&
            v2.encoding !== undefined &&
            count(v2.definition_levels_byte_length) &&
            count(v2.repetition_levels_byte_length) &&
            v2.definition_levels_byte_length + v2.repetition_levels_byte_length <= h.compressed_page_size)) &&
        (h.type !== 'DICTIONARY_PAGE' ||
          (h.dictionary_page_header !== undefined && count(h.dictionary_page_header.num_values)))
      if (!ok) throw new FormatError(`${where}: the page header at byte ${at} is malformed`)
      reader.offset += h.compressed_page_size
    }
  }
}

/**
 * Plain text: one record `{text}` per document, documents separated by one or more blank (or
 * whitespace-only) lines. Lines are joined with \n; a document's own text is otherwise kept as is.
 */
async function readTextDocuments(file: string, maxDocBytes: number): Promise<TrainRecord[]> {
  const records: TrainRecord[] = []
  let lines: string[] = []
  let bytes = 0
  let first = 0
  const flush = (): void => {
    if (lines.length > 0) records.push({ fields: { text: lines.join('\n') }, where: `${file}:${first}` })
    lines = []
    bytes = 0
  }
  for await (const { text, line } of readLines(file, maxDocBytes)) {
    if (text.trim() === '') {
      flush()
      continue
    }
    if (lines.length === 0) first = line
    // A document is one record in memory: bounded like a line, so a file without blank lines fails
    // clearly instead of building a string of gigabytes.
    bytes += Buffer.byteLength(text) + 1
    if (bytes > maxDocBytes) {
      throw new InputError(
        `${file}:${first}: the document starting here is longer than ${sizeText(maxDocBytes)} (separate documents with a blank line)`,
      )
    }
    lines.push(text)
  }
  flush()
  return records
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FormatError(`${where}: expected a JSON object, got ${kindOf(value)}`)
  }
  return value as Record<string, unknown>
}

/** Parquet rows hold null for an absent value: dropped, so they read like a JSON object without the key. */
function withoutNulls(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(row)) if (v !== null && v !== undefined) out[k] = v
  return out
}

/** How a JSON value is named in an error ("an array", "a string"…). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return `a ${typeof value}`
}
