// Types and dtype table shared by the safetensors reader, writer and checkpoint loader.

export type SafetensorsDType =
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'F64'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'U16'
  | 'U32'
  | 'U64'
  | 'F8_E4M3'
  | 'F8_E5M2'

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  I64: 8,
  U64: 8,
  F32: 4,
  I32: 4,
  U32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  U16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
}

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.hasOwn(DTYPE_SIZE, s)
}

export interface TensorView {
  name: string
  dtype: SafetensorsDType
  shape: number[]
  /**
   * The tensor's bytes: a view into the memory-mapped file, no copy. The mapping is read-only:
   * never write through it (a write faults and kills the process).
   */
  data: Uint8Array
  /** The file the tensor was read from. */
  file: string
}

export interface SafetensorsFile {
  path: string
  /** Tensors in header order. */
  tensors: Map<string, TensorView>
  metadata: Record<string, string>
}

export interface TensorToWrite {
  name: string
  dtype: SafetensorsDType
  shape: number[]
  /** Row-major, little-endian bytes; byteLength must be product(shape) · dtype size. */
  data: ArrayBufferView
}

/** product(shape), or undefined when it is not a safe integer. */
export function elementCount(shape: readonly number[]): number | undefined {
  let n = 1
  for (const d of shape) {
    n *= d
    if (!Number.isSafeInteger(n)) return undefined
  }
  return n
}
