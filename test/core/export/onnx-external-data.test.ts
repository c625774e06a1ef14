// Writing the ModelProto: its weights framed by hand and written straight from memory decode to
// the message protobufjs itself would encode. Weights past protobuf's 2 GiB go to `<file>_data`
// (ONNX external data). Forced here on a tiny model: ONNX Runtime loads the pair and computes what
// the single-file export computes.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, expect, it } from 'vitest'
import { initializerBytes } from '../../../src/core/export/onnx/emitter.js'
import { FP32 } from '../../../src/core/export/onnx/graph-ops.js'
import { planOnnx } from '../../../src/core/export/onnx/plan.js'
import { ONNX_TYPE, onnx } from '../../../src/core/export/onnx/proto.js'
import { writeOnnxModel } from '../../../src/core/export/onnx/write-model.js'
import { golden } from '../../helpers/fixtures.js'
import { emptyPast, goldenKvShape, stepFeeds } from '../../helpers/onnx.js'

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-onnx-external-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

it('a model written with external data loads in ONNX Runtime and computes the same logits', async () => {
  const plan = planOnnx(golden('gpt2-tiny'), undefined, FP32)
  const parts = { ...plan.graph, opset: 21, graphName: 'gpt2' }
  const inline = path.join(tmp, 'inline.onnx')
  const split = path.join(tmp, 'split.onnx')
  expect(writeOnnxModel(inline, parts, '0')).toEqual([inline])
  expect(writeOnnxModel(split, parts, '0', 0)).toEqual([split, `${split}_data`])
  // The weights left the graph file; their offsets are 4096-aligned in the data file.
  expect(statSync(split).size).toBeLessThan(statSync(inline).size / 10)
  expect(statSync(`${split}_data`).size).toBeGreaterThan(statSync(inline).size * 0.9)
  expect(readFileSync(split).includes('split.onnx_data')).toBe(true)
  const run = async (file: string) => {
    const s = await ort.InferenceSession.create(file)
    const feeds = { ...emptyPast(s, goldenKvShape('gpt2-tiny')), ...stepFeeds([5, 17, 42, 7]) }
    return (await s.run(feeds)).logits.data as Float32Array
  }
  expect(await run(split)).toEqual(await run(inline))
})

it('the file decodes to the ModelProto protobufjs encodes whole', () => {
  const plan = planOnnx(golden('llama-tiny'), undefined, FP32)
  const parts = {
    ...plan.graph,
    opset: 21,
    graphName: 'llama',
    domains: { 'com.microsoft': 1 },
    metadata: { a: 'b' },
  }
  const file = path.join(tmp, 'streamed.onnx')
  writeOnnxModel(file, parts, '1.2.3')
  const got = onnx.ModelProto.decode(readFileSync(file))
  const whole = onnx.ModelProto.encode(
    onnx.ModelProto.fromObject({
      irVersion: 10,
      producerName: 'kiln',
      producerVersion: '1.2.3',
      opsetImport: [
        { domain: '', version: 21 },
        { domain: 'com.microsoft', version: 1 },
      ],
      graph: {
        name: 'llama',
        node: parts.nodes,
        initializer: parts.initializers.map((t) => ({
          name: t.name,
          dataType: ONNX_TYPE[t.type],
          dims: t.dims,
          rawData: initializerBytes(t.data),
        })),
        input: parts.inputs,
        output: parts.outputs,
      },
      metadataProps: [{ key: 'a', value: 'b' }],
    }),
  ).finish()
  expect(got.graph?.initializer).toHaveLength(parts.initializers.length)
  expect(onnx.ModelProto.toObject(got)).toEqual(onnx.ModelProto.toObject(onnx.ModelProto.decode(whole)))
})
