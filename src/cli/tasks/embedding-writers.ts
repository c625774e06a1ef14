// Where `kiln embed` writes its vectors, by the output's extension: .npy (a float32 (N, D) array,
// as numpy.save writes), .safetensors (one F32 tensor "embeddings" (N, D)) or .jsonl (a line per
// text: {text, embedding}). Vectors stream to a temporary file next to the output as batches
// finish; the header, whose N is known only at the end, sits in space reserved at the start and
// is written last (both formats allow trailing spaces in their header); then fsync and rename.
// A failed or interrupted run leaves no output file.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import path from 'node:path'
import { UsageError } from '../../core/errors.js'
import { removeDeadTemporaries, syncDir, writeAll } from '../../core/util/files.js'

export const EMBEDDING_FORMATS = ['npy', 'safetensors', 'jsonl'] as const
export type EmbeddingFormat = (typeof EMBEDDING_FORMATS)[number]

export interface EmbeddingWriter {
  write(vectors: Float32Array[], texts: string[]): void
  /** Completes the file; returns what it holds. */
  finish(): { count: number; dims: number }
  /** Removes the partial file. */
  abort(): void
}

export function embeddingFormat(file: string): EmbeddingFormat {
  const ext = path.extname(file).slice(1).toLowerCase()
  if (!(EMBEDDING_FORMATS as readonly string[]).includes(ext))
    throw new UsageError(`--output ${file}: the extension must be one of .${EMBEDDING_FORMATS.join(', .')}`)
  return ext as EmbeddingFormat
}

const RESERVED = 256 // header bytes set aside: (10 + header) for .npy, (8 + header) for .safetensors

function npyHeader(count: number, dims: number): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${count}, ${dims}), }`
  // magic, version 1.0, header length (u16), the dict padded with spaces and ended by \n
  const head = Buffer.alloc(RESERVED, 0x20)
  head.write('\x93NUMPY', 0, 'latin1')
  head[6] = 1
  head[7] = 0
  head.writeUInt16LE(RESERVED - 10, 8)
  head.write(dict, 10, 'latin1')
  head[RESERVED - 1] = 0x0a
  return head
}

function safetensorsHeader(count: number, dims: number): Buffer {
  const json = JSON.stringify({
    __metadata__: { format: 'pt' },
    embeddings: { dtype: 'F32', shape: [count, dims], data_offsets: [0, count * dims * 4] },
  })
  const head = Buffer.alloc(RESERVED, 0x20)
  head.writeBigUInt64LE(BigInt(RESERVED - 8), 0)
  head.write(json, 8, 'utf8')
  return head
}

/** A writer for `file` (refused if it exists, unless force). */
export function openEmbeddingWriter(file: string, force: boolean): EmbeddingWriter {
  const format = embeddingFormat(file)
  if (existsSync(file) && !force) throw new UsageError(`--output ${file} exists (--force replaces it)`)
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.partial`)
  // A run killed part way (SIGKILL) left its partial file; this run removes it.
  removeDeadTemporaries(path.dirname(tmp), path.basename(file), '.partial')
  let fd: number | undefined = openSync(tmp, 'w')
  let count = 0
  let dims = -1
  if (format !== 'jsonl') writeAll(fd, Buffer.alloc(RESERVED, 0x20))
  const close = () => {
    if (fd !== undefined) closeSync(fd)
    fd = undefined
  }
  return {
    write(vectors, texts) {
      if (fd === undefined) throw new Error('embedding writer is closed')
      for (const v of vectors) {
        if (dims < 0) dims = v.length
        if (v.length !== dims) throw new Error(`vectors of ${v.length} and ${dims} dimensions in one file`)
      }
      if (format === 'jsonl') {
        const lines = vectors.map(
          (v, i) => `${JSON.stringify({ text: texts[i], embedding: Array.from(v) })}\n`,
        )
        writeAll(fd, Buffer.from(lines.join('')))
      } else {
        for (const v of vectors) writeAll(fd, new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
      }
      count += vectors.length
    },
    finish() {
      if (fd === undefined) throw new Error('embedding writer is closed')
      const d = Math.max(dims, 0)
      if (format !== 'jsonl')
        writeSync(fd, format === 'npy' ? npyHeader(count, d) : safetensorsHeader(count, d), 0, RESERVED, 0)
      fsyncSync(fd)
      close()
      renameSync(tmp, file)
      syncDir(path.dirname(path.resolve(file)))
      return { count, dims: d }
    },
    abort() {
      close()
      rmSync(tmp, { force: true })
    },
  }
}
