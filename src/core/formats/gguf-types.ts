// GGUF (llama.cpp's model file, version 3): constants, typed metadata values and the ggml tensor
// type table shared by the reader and the writer. Byte layout: reference/FORMATS.md.

export const GGUF_MAGIC = 0x46554747 // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3
export const GGUF_DEFAULT_ALIGNMENT = 32
/** llama.cpp's GGML_MAX_NAME: a tensor name must be shorter than this. */
export const GGUF_MAX_NAME_BYTES = 64
/** GGML_MAX_DIMS */
export const GGUF_MAX_DIMS = 4

/** Scalar metadata kinds, named as in FORMATS.md. */
export type GgufScalarType =
  | 'u8'
  | 'i8'
  | 'u16'
  | 'i16'
  | 'u32'
  | 'i32'
  | 'f32'
  | 'bool'
  | 'string'
  | 'u64'
  | 'i64'
  | 'f64'
export type GgufValueKind = GgufScalarType | 'array'

/** On-disk value type ids. */
export const GGUF_VALUE_TYPE_ID: Readonly<Record<GgufValueKind, number>> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
}

export const GGUF_VALUE_KIND_BY_ID: readonly GgufValueKind[] = [
  'u8',
  'i8',
  'u16',
  'i16',
  'u32',
  'i32',
  'f32',
  'bool',
  'string',
  'array',
  'u64',
  'i64',
  'f64',
]

/** Bytes of one fixed-size scalar (strings are variable). */
export const GGUF_SCALAR_SIZE: Readonly<Record<Exclude<GgufScalarType, 'string'>, number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
}

type NumberKind = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'
type BigKind = 'u64' | 'i64'

/**
 * An array element list. The reader returns numeric arrays as typed arrays (Float32Array for f32,
 * Int32Array for i32, BigInt64Array for i64, …) and bool/string arrays as plain arrays.
 */
export type GgufArrayItems =
  | readonly number[]
  | readonly bigint[]
  | readonly boolean[]
  | readonly string[]
  | readonly GgufValue[]
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array

/** One typed metadata value. 64-bit integers may be given as number (a safe integer) or bigint. */
export type GgufValue =
  | { type: NumberKind; value: number }
  | { type: BigKind; value: number | bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  /** Nested arrays (itemType 'array') hold GgufValue items of type 'array'. */
  | { type: 'array'; itemType: GgufValueKind; value: GgufArrayItems }

/** Constructors for typed values: `gguf.u32(4)`, `gguf.array('string', tokens)`. */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: 'u8', value }),
  i8: (value: number): GgufValue => ({ type: 'i8', value }),
  u16: (value: number): GgufValue => ({ type: 'u16', value }),
  i16: (value: number): GgufValue => ({ type: 'i16', value }),
  u32: (value: number): GgufValue => ({ type: 'u32', value }),
  i32: (value: number): GgufValue => ({ type: 'i32', value }),
  f32: (value: number): GgufValue => ({ type: 'f32', value }),
  f64: (value: number): GgufValue => ({ type: 'f64', value }),
  u64: (value: number | bigint): GgufValue => ({ type: 'u64', value }),
  i64: (value: number | bigint): GgufValue => ({ type: 'i64', value }),
  bool: (value: boolean): GgufValue => ({ type: 'bool', value }),
  string: (value: string): GgufValue => ({ type: 'string', value }),
  array: (itemType: GgufValueKind, value: GgufArrayItems): GgufValue => ({ type: 'array', itemType, value }),
}

/** ggml tensor types: name → id, and the block each type packs (elements, bytes). */
export const GGML_TYPES = {
  F32: { id: 0, blockElements: 1, blockBytes: 4 },
  F16: { id: 1, blockElements: 1, blockBytes: 2 },
  Q4_0: { id: 2, blockElements: 32, blockBytes: 18 },
  Q4_1: { id: 3, blockElements: 32, blockBytes: 20 },
  Q5_0: { id: 6, blockElements: 32, blockBytes: 22 },
  Q5_1: { id: 7, blockElements: 32, blockBytes: 24 },
  Q8_0: { id: 8, blockElements: 32, blockBytes: 34 },
  Q8_1: { id: 9, blockElements: 32, blockBytes: 36 },
  Q2_K: { id: 10, blockElements: 256, blockBytes: 84 },
  Q3_K: { id: 11, blockElements: 256, blockBytes: 110 },
  Q4_K: { id: 12, blockElements: 256, blockBytes: 144 },
  Q5_K: { id: 13, blockElements: 256, blockBytes: 176 },
  Q6_K: { id: 14, blockElements: 256, blockBytes: 210 },
  Q8_K: { id: 15, blockElements: 256, blockBytes: 292 },
  I8: { id: 24, blockElements: 1, blockBytes: 1 },
  I16: { id: 25, blockElements: 1, blockBytes: 2 },
  I32: { id: 26, blockElements: 1, blockBytes: 4 },
  I64: { id: 27, blockElements: 1, blockBytes: 8 },
  F64: { id: 28, blockElements: 1, blockBytes: 8 },
  BF16: { id: 30, blockElements: 1, blockBytes: 2 },
} as const

export type GgmlTypeName = keyof typeof GGML_TYPES

/** The types the writer accepts (Q8_K quantizes activations only: never a tensor in a file). */
export type GgufWritableType = 'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0' | 'Q4_K' | 'Q6_K'
export const GGUF_WRITABLE_TYPES: readonly GgufWritableType[] = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q4_K',
  'Q6_K',
]

const TYPE_BY_ID = new Map<number, GgmlTypeName>(
  (Object.keys(GGML_TYPES) as GgmlTypeName[]).map((name) => [GGML_TYPES[name].id, name]),
)

export function ggmlTypeName(id: number): GgmlTypeName | undefined {
  return TYPE_BY_ID.get(id)
}

/**
 * Bytes of a tensor with ggml dims `dims` (fastest-varying first), or undefined when the first dim
 * is not a whole number of blocks or the size is not a safe integer.
 */
export function ggmlTensorBytes(type: GgmlTypeName, dims: readonly number[]): number | undefined {
  const { blockElements, blockBytes } = GGML_TYPES[type]
  let rows = 1
  for (let i = 1; i < dims.length; i++) {
    rows *= dims[i]
    if (!Number.isSafeInteger(rows)) return undefined
  }
  const d0 = dims.length > 0 ? dims[0] : 1
  if (d0 % blockElements !== 0) return undefined
  const bytes = (d0 / blockElements) * blockBytes * rows
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/**
 * `general.file_type` values (llama_ftype): the file's main type. The K-quant files are mixes
 * named after their policy (MOSTLY_Q4_K_M = 15, MOSTLY_Q6_K = 18).
 */
export const GGUF_FILE_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 7, Q4_K_M: 15, Q6_K: 18, BF16: 32 } as const
/** `general.quantization_version`: the ggml block layout revision files with quantized tensors declare. */
export const GGML_QUANTIZATION_VERSION = 2

/** `tokenizer.ggml.token_type` values (llama_token_type). */
export const GGUF_TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment
}
