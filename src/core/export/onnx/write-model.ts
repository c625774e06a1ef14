// Serializes an ONNX graph as a ModelProto file. Protobuf messages cannot pass 2 GiB, so a model
// whose weights would push the file past that keeps them in `<file>_data` beside it (ONNX's
// external data: each initializer names that file, its offset and length), as optimum does.
import { closeSync, openSync } from 'node:fs'
import nodePath from 'node:path'
import { writeAll } from '../../util/files.js'
import type { Initializer } from './emitter.js'
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
  let tensors: TensorProto[]
  const written = [file]
  if (external) {
    tensors = writeExternalData(dataFile, parts.initializers)
    written.push(dataFile)
  } else {
    tensors = parts.initializers.map((t) => ({
      name: t.name,
      dataType: ONNX_TYPE[t.type],
      dims: t.dims,
      rawData: t.data,
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
    graph: {
      name: parts.graphName,
      node: parts.nodes,
      initializer: tensors,
      input: parts.inputs,
      output: parts.outputs,
    },
    metadataProps: Object.entries(parts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  }
  const bytes = onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish()
  const fd = openSync(file, 'w')
  try {
    writeAll(fd, bytes)
  } finally {
    closeSync(fd)
  }
  return written
}

function writeExternalData(dataFile: string, initializers: Initializer[]): TensorProto[] {
  const location = nodePath.basename(dataFile)
  const fd = openSync(dataFile, 'w')
  const out: TensorProto[] = []
  let offset = 0
  try {
    for (const t of initializers) {
      if (t.data.byteLength < INLINE_BYTES) {
        out.push({ name: t.name, dataType: ONNX_TYPE[t.type], dims: t.dims, rawData: t.data })
        continue
      }
      const pad = (ALIGN - (offset % ALIGN)) % ALIGN
      if (pad) writeAll(fd, new Uint8Array(pad))
      offset += pad
      writeAll(fd, t.data)
      out.push({
        name: t.name,
        dataType: ONNX_TYPE[t.type],
        dims: t.dims,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: 'location', value: location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(t.data.byteLength) },
        ],
      })
      offset += t.data.byteLength
    }
  } finally {
    closeSync(fd)
  }
  return out
}
