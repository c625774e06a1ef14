// What the graph builder writes into a matmul node: the weight layout (i0) and the summation order
// (i1), which is the many-row (GEMM) one only in graphs whose steps are whole sequences (encoders).
import { describe, expect, it } from 'vitest'
import { GraphBuilder } from '../../../src/core/runtime/graph-builder.js'

function matmulNode(wholeSequences: boolean | undefined, kxm: boolean) {
  const g = new GraphBuilder({ maxRows: 8, maxOutRows: 8, contextLength: 0, slots: 1, wholeSequences })
  const x = g.embedding('x', g.external('table', 'f32', [10, 4], new Float32Array(40)), g.tokens)
  g.matmul('y', x, g.external('w', 'f32', kxm ? [4, 3] : [3, 4], new Float32Array(12)), undefined, kxm)
  return g.nodes.find((n) => n.op === 'matmul')
}

describe('GraphBuilder.matmul', () => {
  it('asks for the GEMM order in whole-sequence graphs only', () => {
    expect(matmulNode(true, false)?.i).toEqual([0, 1])
    expect(matmulNode(false, false)?.i).toEqual([0, 0])
    expect(matmulNode(undefined, true)?.i).toEqual([1, 0])
  })
})
