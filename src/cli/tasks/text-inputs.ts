// The texts a task command (classify, embed, fill-mask, ner) runs on: its TEXT arguments, a --file
// (one text per line, or JSONL with a "text" field, by the .jsonl extension), or stdin ("-", or
// no TEXT with stdin not a terminal). Files and stdin stream line by line: a 100,000-line file is
// never held whole. Blank lines are skipped.
import { createReadStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { UsageError } from '../../core/errors.js'
import { cliIo } from '../io.js'

export interface TextSource {
  texts: string[]
  file?: string
}

export interface TextInput {
  text: string
  /** Where it came from, for errors: "file:12", "stdin:3", "argument 2". */
  where: string
}

export interface TextStream {
  /** Input bytes in all, when known (a file): what a progress bar measures. */
  totalBytes?: number
  /** Bytes consumed so far (a file or stdin). */
  readonly bytesRead: number
  items: AsyncIterable<TextInput>
}

function parseLine(line: string, jsonl: boolean, where: string): string {
  if (!jsonl) return line
  let obj: unknown
  try {
    obj = JSON.parse(line)
  } catch {
    throw new UsageError(`${where}: not valid JSON`)
  }
  const text = (obj as { text?: unknown } | null)?.text
  if (typeof text !== 'string') throw new UsageError(`${where}: needs a "text" string`)
  return text
}

function lineStream(input: NodeJS.ReadableStream, name: string, jsonl: boolean, counter: { bytes: number }) {
  return (async function* () {
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
    let n = 0
    for await (const line of lines) {
      n++
      counter.bytes += Buffer.byteLength(line) + 1
      if (line.trim() === '') continue
      const where = `${name}:${n}`
      yield { text: parseLine(line, jsonl, where), where }
    }
  })()
}

export function openTexts(source: TextSource): TextStream {
  const counter = { bytes: 0 }
  const stdinIsTerminal = cliIo().stdin.isTTY === true
  const fromStdin = source.texts.length === 1 && source.texts[0] === '-'
  if (source.file !== undefined) {
    if (source.texts.length > 0) throw new UsageError('give either TEXT arguments or --file, not both')
    const st = statSync(source.file, { throwIfNoEntry: false })
    if (!st?.isFile()) throw new UsageError(`--file ${source.file}: no such file`)
    const jsonl = source.file.toLowerCase().endsWith('.jsonl')
    return {
      totalBytes: st.size,
      get bytesRead() {
        return counter.bytes
      },
      items: lineStream(createReadStream(source.file), source.file, jsonl, counter),
    }
  }
  if (fromStdin || (source.texts.length === 0 && !stdinIsTerminal)) {
    const stdin = Readable.from(cliIo().stdin)
    return {
      get bytesRead() {
        return counter.bytes
      },
      items: lineStream(stdin, 'stdin', false, counter),
    }
  }
  if (source.texts.length === 0)
    throw new UsageError('no text: give TEXT arguments, --file, or pipe text on stdin')
  return {
    bytesRead: 0,
    items: (async function* () {
      for (let i = 0; i < source.texts.length; i++)
        yield { text: source.texts[i], where: `argument ${i + 1}` }
    })(),
  }
}

/** Items in groups of `size` (the last may be shorter). */
export async function* inBatches<T>(items: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = []
  for await (const item of items) {
    batch.push(item)
    if (batch.length >= size) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
}
