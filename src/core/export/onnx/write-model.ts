// Serializes an ONNX graph as a ModelProto file. Protobuf messages cannot pass 2 GiB, so a model
// whose weights would push the file past that keeps them in `<file>_data` beside it (ONNX's
// external data: each initializer names that file, its offset and length), as optimum does.
import { closeSync, openSync } from 'node:fs'
import nodePath from 'node:path'
import { writeAll } from '../../util/files.js'
import type { Initializer, LazyBytes } from './emitter.js'
import {
  type ModelProto,
  type NodeProto,
  ONNX_TYPE,
  onnx,
  type TensorProto,
  type ValueInfoProto,
} from './proto.js'

export interface OnnxModelParts {
  nodes: NodeProto[]
  initializers: Initializer[]
  inputs: ValueInfoProto[]
  outputs: ValueInfoProto[]
  opset: number
  /** Extra operator domains (com.microsoft for ONNX Runtime's fused ops), with their versions. */
  domains?: Record<string, number>
  graphName: string
  /** Key/value pairs in the model's metadata_props. */
  metadata?: Record<string, string>
}

/** Initializer bytes past which weights go to an external data file (protobuf's limit is 2 GiB). */
export const EXTERNAL_DATA_THRESHOLD = 1.8 * 2 ** 30

/**
 * Initializers smaller than this stay in the graph file (shapes, axes, scalars): shape inference
 * reads them while loading, before external data is (ONNX's own writer uses 1024 too).
 */
const INLINE_BYTES = 1024

/** External data offsets are aligned so a runtime can map them (ONNX's own writer uses 4096). */
const ALIGN = 4096

/** ONNX IR version of opset 21's ONNX release (1.16). */
const IR_VERSION = 10

/**
 * Writes `file` (and `file_data` when the weights pass `threshold` bytes); returns the files
 * written.
 */
export function writeOnnxModel(
  file: string,
  parts: OnnxModelParts,
  version: string,
  threshold = EXTERNAL_DATA_THRESHOLD,
): string[] {
  const total = parts.initializers.reduce((n, t) => n + t.data.byteLength, 0)
  const external = total > threshold
  const dataFile = `${file}_data`
  const written = [file]
  // Each initializer as its TensorProto without raw_data, and the bytes that follow as raw_data.
  let tensors: { proto: TensorProto; raw?: Uint8Array | LazyBytes }[]
  if (external) {
    tensors = writeExternalData(dataFile, parts.initializers)
    written.push(dataFile)
  } else {
    tensors = parts.initializers.map((t) => ({
      proto: { name: t.name, dataType: ONNX_TYPE[t.type], dims: t.dims },
      raw: t.data,
    }))
  }
  const model: ModelProto = {
    irVersion: IR_VERSION,
    producerName: 'kiln',
    producerVersion: version,
    opsetImport: [
      { domain: '', version: parts.opset },
      ...Object.entries(parts.domains ?? {}).map(([domain, v]) => ({ domain, version: v })),
    ],
    metadataProps: Object.entries(parts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  }
  const graph = {
    name: parts.graphName,
    node: parts.nodes,
    input: parts.inputs,
    output: parts.outputs,
  }
  const fd = openSync(file, 'w')
  try {
    for (const piece of modelPieces(model, graph, tensors)) writeAll(fd, piece)
  } finally {
    closeSync(fd)
  }
  return written
}

// Protobuf field numbers (onnx.proto) of the fields framed here by hand, with wire type 2 (bytes).
const GRAPH_OF_MODEL = (7 << 3) | 2
const INITIALIZER_OF_GRAPH = (5 << 3) | 2
const RAW_DATA_OF_TENSOR = (9 << 3) | 2

/**
 * The ModelProto's bytes in pieces, the weights as they are: protobufjs encodes everything but the
 * initializers' raw data, which is framed here (a tag, a length) and written straight from the
 * weights, not copied into one buffer the size of the model first. Fields may come in any order
 * in protobuf; the graph is one field, so readers that replace rather than merge repeated
 * embedded messages (protobufjs) read the same model.
 */
function* modelPieces(
  model: ModelProto,
  graph: Record<string, unknown>,
  tensors: { proto: TensorProto; raw?: Uint8Array | LazyBytes }[],
): Generator<Uint8Array> {
  const heads = tensors.map(({ proto, raw }) => {
    const head = onnx.TensorProto.encode(onnx.TensorProto.fromObject(proto)).finish()
    const rawFrame = raw ? frame(RAW_DATA_OF_TENSOR, raw.byteLength) : new Uint8Array(0)
    const length = head.length + rawFrame.length + (raw?.byteLength ?? 0)
    return { frame: frame(INITIALIZER_OF_GRAPH, length), head, rawFrame, raw }
  })
  const graphHead = onnx.GraphProto.encode(onnx.GraphProto.fromObject(graph)).finish()
  const graphLength = heads.reduce(
    (n, t) => n + t.frame.length + t.head.length + t.rawFrame.length + (t.raw?.byteLength ?? 0),
    graphHead.length,
  )
  yield onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish()
  yield frame(GRAPH_OF_MODEL, graphLength)
  yield graphHead
  for (const t of heads) {
    yield t.frame
    yield t.head
    if (t.raw) {
      yield t.rawFrame
      yield* bytePieces(t.raw)
    }
  }
}

/** The pieces of bytes that may be lazy, each to be written before the next is asked for. */
function* bytePieces(data: Uint8Array | LazyBytes): Generator<Uint8Array> {
  if (data instanceof Uint8Array) yield data
  else yield* data.slabs()
}

/** A length-delimited field's tag and length, as varints. */
function frame(tag: number, length: number): Uint8Array {
  const out: number[] = [tag]
  let v = length
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

function writeExternalData(
  dataFile: string,
  initializers: Initializer[],
): { proto: TensorProto; raw?: Uint8Array | LazyBytes }[] {
  const location = nodePath.basename(dataFile)
  const fd = openSync(dataFile, 'w')
  const out: { proto: TensorProto; raw?: Uint8Array | LazyBytes }[] = []
  let offset = 0
  try {
    for (const t of initializers) {
      if (t.data.byteLength < INLINE_BYTES) {
        out.push({ proto: { name: t.name, dataType: ONNX_TYPE[t.type], dims: t.dims }, raw: t.data })
        continue
      }
      const pad = (ALIGN - (offset % ALIGN)) % ALIGN
      if (pad) writeAll(fd, new Uint8Array(pad))
      offset += pad
      for (const piece of bytePieces(t.data)) writeAll(fd, piece)
      out.push({
        proto: {
          name: t.name,
          dataType: ONNX_TYPE[t.type],
          dims: t.dims,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(t.data.byteLength) },
          ],
        },
      })
      offset += t.data.byteLength
    }
  } finally {
    closeSync(fd)
  }
  return out
}
