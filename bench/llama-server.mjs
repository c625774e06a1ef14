// llama.cpp's own server as the serving peer, built for this CPU from the llama.cpp source that
// node-llama-cpp ships, in the cache folder the CPU benchmark's llama-bench shares (llama-native.mjs;
// never in CI). `node bench/llama-server.mjs` builds it and prints its path.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureLlamaTarget } from './llama-native.mjs'

/** The llama-server binary, built on first use (several minutes on 2 cores). */
export function buildLlamaServer() {
  return ensureLlamaTarget('llama-server').bin
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.stdout.write(`${buildLlamaServer()}\n`)
