// Paths to the golden fixtures in test/fixtures/golden (computed by PyTorch + transformers; see their
// README).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const GOLDEN = fileURLToPath(new URL('../fixtures/golden/', import.meta.url))

export function golden(name: string): string {
  return path.join(GOLDEN, name)
}

export function readJson<T = unknown>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T
}

export interface GoldenLM {
  prompts: string[]
  new_tokens: number
  single: { input_ids: number[]; greedy_new_ids: number[]; greedy_text: string }[]
  batched: { input_ids: number[][]; attention_mask: number[][]; greedy_new_ids: number[][] }
}

/** max |a − b| */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]))
  return m
}
