// Runs single ops in a fresh process, so a test can set KILN_NO_SIMD=1 (read once per process)
// and cover the portable kernels. Reads {cases: [{backend, node, tensors, threads}]} as JSON on
// stdin, tensor data as base64; writes {cpu: cpuInfo(), outputs: [base64 of the f32 output]}.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// KILN_NATIVE_ADDON: another build (npm run test:asan's sanitizer build), as src/core/native.ts reads it.
const addon = require(process.env.KILN_NATIVE_ADDON || '../../build/Release/kiln_native.node')

const ARRAYS = { f32: Float32Array, f16: Uint16Array, bf16: Uint16Array, i32: Int32Array }

function decode(t) {
  if (t.data === undefined) return t
  const bytes = Buffer.from(t.data, 'base64')
  const Ctor = ARRAYS[t.dtype] ?? Uint8Array // block-quantized weights are bytes
  const copy = new Uint8Array(bytes.length)
  copy.set(bytes)
  return { ...t, data: new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT) }
}

const input = JSON.parse(readFileSync(0, 'utf8'))
const outputs = input.cases.map((c) => {
  const out = addon.runOp(c.backend, c.node, c.tensors.map(decode), c.threads)
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('base64')
})
process.stdout.write(JSON.stringify({ cpu: addon.cpuInfo(), outputs }))
