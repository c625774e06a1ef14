// Reading a text file line by line with a bound on each line: node's readline keeps growing a
// line until memory runs out, so one 10 GB line without a newline would take the process down.

import { open } from 'node:fs/promises'
import { FormatError, InputError } from '../../errors.js'

export interface Line {
  /** The line without its line break (\n or \r\n); a UTF-8 byte order mark on line 1 is dropped. */
  text: string
  /** 1-based, as editors count. */
  line: number
}

const CHUNK = 1 << 20
const MIB = 1 << 20

/** The lines of `file`, each at most `maxLineBytes` UTF-8 bytes; invalid UTF-8 is an error naming the line. */
export async function* readLines(file: string, maxLineBytes: number): AsyncGenerator<Line> {
  const fh = await open(file, 'r')
  // fatal: a file that is not UTF-8 text (a binary file given by mistake) is refused, not garbled.
  // Only line 1 may start with a byte order mark (ignoreBOM: false drops it).
  const first = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
  const rest = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  const buf = Buffer.allocUnsafe(CHUNK)
  let parts: Buffer[] = []
  let partBytes = 0
  let line = 1
  const take = (piece: Buffer, copy: boolean): void => {
    if (partBytes + piece.length > maxLineBytes) {
      throw new InputError(`${file}:${line} is longer than ${sizeText(maxLineBytes)}`)
    }
    parts.push(copy ? Buffer.from(piece) : piece)
    partBytes += piece.length
  }
  const finish = (): Line => {
    const bytes = parts.length === 1 ? parts[0] : Buffer.concat(parts, partBytes)
    let text: string
    try {
      text = (line === 1 ? first : rest).decode(bytes)
    } catch {
      throw new FormatError(`${file}:${line} is not valid UTF-8 text`)
    }
    parts = []
    partBytes = 0
    return { text: text.endsWith('\r') ? text.slice(0, -1) : text, line: line++ }
  }
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null)
      if (bytesRead === 0) break
      let start = 0
      for (;;) {
        const nl = buf.indexOf(10, start)
        if (nl === -1 || nl >= bytesRead) {
          // The rest of the chunk continues a line: copied, since `buf` is refilled.
          if (start < bytesRead) take(buf.subarray(start, bytesRead), true)
          break
        }
        take(buf.subarray(start, nl), false)
        // Decoded before the next read overwrites `buf`.
        yield finish()
        start = nl + 1
      }
    }
    if (partBytes > 0) yield finish()
  } finally {
    await fh.close()
  }
}

/** 4294967296 → "4 GiB", 67108864 → "64 MiB"; other sizes in bytes. */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * MIB && bytes % (1024 * MIB) === 0) return `${bytes / (1024 * MIB)} GiB`
  if (bytes >= MIB && bytes % MIB === 0) return `${bytes / MIB} MiB`
  return `${bytes} bytes`
}
