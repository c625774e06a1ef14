// ggml's own compiled quantizers as a judge: node-llama-cpp's prebuilt libggml-base, called
// through python3 ctypes (quantize_row_<type>_ref and dequantize_row_<type>). Undefined where either
// is missing, so the tests that use it skip with a warning rather than fail.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** node-llama-cpp's prebuilt ggml for this platform (the CPU build), if installed with python3. */
export function findLibggml(): string | undefined {
  const dir = path.resolve('node_modules/@node-llama-cpp', `${process.platform}-${process.arch}`, 'bins')
  const name = process.platform === 'darwin' ? 'libggml-base.dylib' : 'libggml-base.so'
  const file = path.join(dir, `${process.platform}-${process.arch}`, name)
  if (!existsSync(file) || process.platform === 'win32') return undefined
  return spawnSync('python3', ['-c', 'import ctypes'], { stdio: 'ignore' }).status === 0 ? file : undefined
}

// argv: lib, f32 input, output folder, then name:block:bytes per type (ggml's names: q4_K, q5_0…).
const SCRIPT = `
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
data = open(sys.argv[2], 'rb').read()
n = len(data) // 4
x = (ctypes.c_float * n).from_buffer_copy(data)
for spec in sys.argv[4:]:
    name, block, size = spec.split(':')
    y = (ctypes.c_uint8 * (n // int(block) * int(size)))()
    getattr(lib, 'quantize_row_%s_ref' % name)(x, y, ctypes.c_int64(n))
    z = (ctypes.c_float * n)()
    getattr(lib, 'dequantize_row_%s' % name)(y, z, ctypes.c_int64(n))
    open(sys.argv[3] + '/' + name.lower() + '.q', 'wb').write(bytes(y))
    open(sys.argv[3] + '/' + name.lower() + '.f', 'wb').write(bytes(z))
`

export interface GgmlType {
  /** ggml's spelling: q4_K, q5_0… */
  name: string
  block: number
  bytes: number
}

/** ggml's quantized bytes of `x` and their dequantization, per type (keyed by lower-case name). */
export function ggmlQuantize(
  lib: string,
  x: Float32Array,
  types: GgmlType[],
): Map<string, { bytes: Uint8Array; values: Float32Array }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-ggml-'))
  try {
    writeFileSync(path.join(dir, 'x.f32'), new Uint8Array(x.buffer, x.byteOffset, x.byteLength))
    const specs = types.map((t) => `${t.name}:${t.block}:${t.bytes}`)
    const r = spawnSync('python3', ['-c', SCRIPT, lib, path.join(dir, 'x.f32'), dir, ...specs], {
      encoding: 'utf8',
    })
    if (r.status !== 0) throw new Error(`ggml through ctypes failed: ${r.stderr}`)
    const out = new Map<string, { bytes: Uint8Array; values: Float32Array }>()
    for (const t of types) {
      const key = t.name.toLowerCase()
      const bytes = new Uint8Array(readFileSync(path.join(dir, `${key}.q`)))
      const f = readFileSync(path.join(dir, `${key}.f`))
      out.set(key, { bytes, values: new Float32Array(f.buffer, f.byteOffset, f.byteLength / 4) })
    }
    return out
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
