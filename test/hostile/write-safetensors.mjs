// A process that writes a safetensors file through the library (dist/), for the kill tests:
// `node write-safetensors.mjs OUT SEED MB` writes MB megabytes of tensors drawn from SEED.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytesSeeded } from '../core/hub/hub-server.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const { writeSafetensors } = await import(path.join(root, 'dist', 'core', 'formats', 'safetensors.js'))
const [out, seed, mb] = process.argv.slice(2)
const tensors = []
const per = 256 * 1024 // bytes per tensor: many writes, so a kill can land between them
for (let i = 0; i < (Number(mb) * (1 << 20)) / per; i++) {
  const data = randomBytesSeeded(per, Number(seed) * 1000 + i)
  tensors.push({ name: `layer.${i}.weight`, dtype: 'F32', shape: [per / 4], data: new Uint8Array(data) })
}
writeSafetensors(out, tensors, { seed: String(seed) })
