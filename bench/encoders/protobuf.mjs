// A minimal protobuf writer, enough for ONNX's ModelProto: varints, 32-bit floats and
// length-delimited fields (strings, bytes, nested messages, packed int64s). A message is a list of
// Buffer parts plus its length, so nesting never copies: a 400 MB initializer stays the view of the
// Float32Array it came from until the parts are written to the file.
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'

const WIRE_VARINT = 0
const WIRE_LEN = 2
const WIRE_I32 = 5

/** Varint bytes of an unsigned or (as int64 two's complement) negative integer. */
function varint(value) {
  let v = BigInt.asUintN(64, BigInt(value))
  const out = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v !== 0n) byte |= 0x80
    out.push(byte)
  } while (v !== 0n)
  return Buffer.from(out)
}

const tag = (field, wire) => varint((field << 3) | wire)

export class Message {
  constructor() {
    this.parts = []
    this.length = 0
  }

  push(buf) {
    this.parts.push(buf)
    this.length += buf.length
    return this
  }

  /** int32 / int64 / enum / bool field. */
  int(field, value) {
    return this.push(tag(field, WIRE_VARINT)).push(varint(value))
  }

  float(field, value) {
    const b = Buffer.alloc(4)
    b.writeFloatLE(value)
    return this.push(tag(field, WIRE_I32)).push(b)
  }

  /** bytes field; `data` is a Buffer or any typed array (viewed, not copied). */
  bytes(field, data) {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    return this.push(tag(field, WIRE_LEN)).push(varint(buf.length)).push(buf)
  }

  string(field, s) {
    return this.bytes(field, Buffer.from(s, 'utf8'))
  }

  /** Embedded message field. */
  message(field, msg) {
    this.push(tag(field, WIRE_LEN)).push(varint(msg.length))
    for (const p of msg.parts) this.parts.push(p)
    this.length += msg.length
    return this
  }

  /** Packed repeated int64 field. */
  packedInts(field, values) {
    const body = Buffer.concat(values.map(varint))
    return this.bytes(field, body)
  }

  /** The whole message as one Buffer (small models only: this copies). */
  toBuffer() {
    return Buffer.concat(this.parts, this.length)
  }

  /** Writes the message to `file` atomically (temporary name, fsync, rename). */
  writeTo(file) {
    const tmp = `${file}.tmp-${process.pid}`
    const fd = openSync(tmp, 'w')
    try {
      for (const p of this.parts) {
        let off = 0
        while (off < p.length) off += writeSync(fd, p, off, p.length - off)
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
  }
}
