// The other GGUF implementations the tests use as judges: llama.cpp (node-llama-cpp) and
// @huggingface/gguf, both devDependencies. Each is undefined when not installed, so a test can skip
// with a message; KILN_NODE_LLAMA_CPP / KILN_HF_GGUF may point at another install.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

// The slice of node-llama-cpp 3.x the tests use.
export interface NlcSequence {
  evaluate(tokens: number[], options: object): AsyncGenerator<number>
  evaluateWithMetadata(
    tokens: number[],
    metadata: { probabilities: true },
    options: object,
  ): AsyncGenerator<{ token: number; probabilities: Map<number, number> }>
}
export interface NlcContext {
  getSequence(): NlcSequence
  dispose(): Promise<void>
}
export interface NlcModel {
  createContext(options: object): Promise<NlcContext>
  dispose(): Promise<void>
}
export interface NlcLlama {
  loadModel(options: { modelPath: string }): Promise<NlcModel>
  dispose(): Promise<void>
}
export interface NlcTensorInfo {
  name: string
  dimensions: (number | bigint)[]
  ggmlType: number
  offset: number | bigint
}
export interface NodeLlamaCpp {
  getLlama(options: object): Promise<NlcLlama>
  readGgufFileInfo(
    path: string,
    options: object,
  ): Promise<{ version: number; metadata: Record<string, unknown>; tensorInfo?: NlcTensorInfo[] }>
  LlamaLogLevel: Record<string, unknown>
}

// The slice of @huggingface/gguf the tests use.
export interface HfGgufTensorInfo {
  name: string
  n_dims: number
  shape: bigint[]
  dtype: number
  offset: bigint
}
export interface HfGguf {
  gguf(
    uri: string,
    params: { allowLocalFile: boolean },
  ): Promise<{ metadata: Record<string, unknown>; tensorInfos: HfGgufTensorInfo[]; tensorDataOffset: bigint }>
}

/** Imports an optional package: the project's own install, else the folder an env var names. */
async function optionalImport<T>(name: string, envVar: string, entry: string): Promise<T | undefined> {
  try {
    return (await import(/* @vite-ignore */ name)) as T
  } catch {
    // not installed in the project
  }
  const hint = process.env[envVar]
  if (!hint) return undefined
  const file = [hint, path.join(hint, 'node_modules', name, entry), path.join(hint, entry)].find(
    (f) => f.endsWith('.js') && existsSync(f),
  )
  return file === undefined ? undefined : ((await import(/* @vite-ignore */ pathToFileURL(file).href)) as T)
}

export const nlc = await optionalImport<NodeLlamaCpp>(
  'node-llama-cpp',
  'KILN_NODE_LLAMA_CPP',
  'dist/index.js',
)
export const hf = await optionalImport<HfGguf>('@huggingface/gguf', 'KILN_HF_GGUF', 'dist/index.js')

/** llama.cpp on the CPU with its prebuilt binary, quiet. */
export function openLlama(): Promise<NlcLlama> {
  if (!nlc) throw new Error('node-llama-cpp is not installed')
  return nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error, logger: () => {} })
}

/**
 * llama.cpp's greedy continuation of `prompt` (at most want.length tokens, in a fresh context) and
 * how many of its first tokens equal `want`.
 */
export async function llamaGreedy(
  model: NlcModel,
  prompt: number[],
  want: number[],
): Promise<{ got: number[]; agree: number }> {
  const context = await model.createContext({ contextSize: 256, threads: 1 })
  try {
    const got: number[] = []
    for await (const token of context
      .getSequence()
      .evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
      got.push(token)
      if (got.length >= want.length) break
    }
    let agree = 0
    while (agree < want.length && got[agree] === want[agree]) agree++
    return { got, agree }
  } finally {
    await context.dispose()
  }
}
