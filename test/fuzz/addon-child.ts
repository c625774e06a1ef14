// The child process of the addon-api fuzz target: runs each case of a batch (a short program of
// calls to the addon's entry points, with their arguments described as JSON: addon-values.ts) and
// reports how each call ended. Bundled from the sources by addon-batch.ts; a line before and after
// each case tells the parent which case a crash (an abort, a fault) or a hang belongs to.
//   node child.mjs <file listing the cases as JSON> <scratch folder>
import { readFileSync, writeSync } from 'node:fs'
import { type NativeGraph, native } from '../../src/core/native.js'
import { type AddonCall, type CallOutcome, decodeValue, GRAPH_METHODS } from './addon-values.js'

const [listFile, scratch] = process.argv.slice(2)
const cases = JSON.parse(readFileSync(listFile, 'utf8')) as AddonCall[][]
const addon = native() as unknown as Record<string, unknown>

function outcomeOf(e: unknown): CallOutcome {
  if (!(e instanceof Error)) return { threw: 'non-error', message: String(e).slice(0, 300) }
  return { threw: e.constructor?.name ?? 'Error', message: e.message.slice(0, 300) }
}

async function runCase(calls: AddonCall[]): Promise<CallOutcome[]> {
  const graphs: unknown[] = []
  const pending: Promise<unknown>[] = []
  const outcomes: CallOutcome[] = []
  const ctx = { graphs, scratch }
  for (const call of calls) {
    try {
      const args = (call.args ?? []).map((a) => decodeValue(a, ctx))
      let result: unknown
      if (GRAPH_METHODS.includes(call.fn)) {
        const target = call.graph === undefined ? undefined : graphs[call.graph]
        // No such graph: the method is called on a foreign `this` (an object the addon did not make).
        const self = target ?? decodeValue(call.self ?? { $: 'object' }, ctx)
        const proto = (addon.Graph as { prototype: Record<string, (...a: unknown[]) => unknown> }).prototype
        result = proto[call.fn].apply(self, args)
      } else if (call.fn === 'Graph') {
        const G = addon.Graph as new (...a: unknown[]) => NativeGraph
        result = call.plain ? (G as unknown as (...a: unknown[]) => unknown)(...args) : new G(...args)
        graphs.push(result)
      } else {
        const f = addon[call.fn] as (...a: unknown[]) => unknown
        result = call.self ? f.apply(decodeValue(call.self, ctx), args) : f(...args)
      }
      const out = args[9]
      if (call.detachOut && ArrayBuffer.isView(out) && out.buffer instanceof ArrayBuffer)
        structuredClone(out.buffer, { transfer: [out.buffer] })
      if (result instanceof Promise) {
        // Awaited at once, or left running while the next calls (dispose) happen.
        const p = result.then(
          () => ({ ok: true }) as CallOutcome,
          (e: unknown) => outcomeOf(e),
        )
        if (call.detach) {
          pending.push(p)
          outcomes.push({ ok: true })
        } else outcomes.push(await p)
      } else outcomes.push({ ok: true })
    } catch (e) {
      outcomes.push(outcomeOf(e))
    }
  }
  for (const p of pending) outcomes.push((await p) as CallOutcome)
  for (const g of graphs) {
    try {
      ;(g as NativeGraph).dispose()
    } catch {}
  }
  return outcomes
}

for (let i = 0; i < cases.length; i++) {
  writeSync(1, `S ${i}\n`)
  const rss0 = process.memoryUsage.rss()
  const t0 = performance.now()
  let outcomes: CallOutcome[]
  try {
    outcomes = await runCase(cases[i])
  } catch (e) {
    outcomes = [{ ...outcomeOf(e), harness: true }]
  }
  const ms = performance.now() - t0
  const grew = process.memoryUsage.rss() - rss0
  writeSync(1, `D ${i} ${JSON.stringify({ outcomes, ms, grew })}\n`)
}
writeSync(1, 'E\n')
