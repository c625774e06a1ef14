// The ONNX protobuf messages kiln writes, through onnx-proto (protobufjs over the official
// onnx.proto), and small constructors for them: nodes with typed attributes, tensors, value infos.
import onnxProto from 'onnx-proto'

export const { onnx } = onnxProto
export type NodeProto = onnxProto.onnx.INodeProto
export type TensorProto = onnxProto.onnx.ITensorProto
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto
export type ModelProto = onnxProto.onnx.IModelProto
export type AttributeProto = onnxProto.onnx.IAttributeProto

/** TensorProto.DataType numbers (onnx.proto); INT4 is newer than onnx-proto's copy of the enum. */
export const ONNX_TYPE = {
  float: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  int4: 22,
} as const
export type OnnxType = keyof typeof ONNX_TYPE

/** An attribute value: a number is an int unless `floats` says otherwise. */
export type AttrValue = number | number[] | { f: number } | { floats: number[] } | { s: string }

export function attribute(name: string, v: AttrValue): AttributeProto {
  const A = onnx.AttributeProto.AttributeType
  if (typeof v === 'number') return { name, type: A.INT, i: v }
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v }
  if ('f' in v) return { name, type: A.FLOAT, f: v.f }
  if ('floats' in v) return { name, type: A.FLOATS, floats: v.floats }
  return { name, type: A.STRING, s: new TextEncoder().encode(v.s) }
}

/** A dimension: a number, or a named dynamic axis. */
export type Dim = number | string

export function valueInfo(name: string, type: OnnxType, dims: Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  }
}

/** The dims of a value info: numbers, or the names of dynamic axes. */
export function valueInfoDims(v: ValueInfoProto): Dim[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)))
}
