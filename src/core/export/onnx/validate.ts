// Validation on the way out, as optimum does it: the written file runs in ONNX Runtime on a sample
// prompt (prefill from an empty past), then decodes a few greedy steps through its own present
// tensors, and every logit is compared with kiln's own forward pass of the same tokens.
import { KilnError } from '../../errors.js'
import { f16BitsToF32 } from '../../formats/float.js'
import type { EncoderModel } from '../../runtime/encoder.js'
import type { Model } from '../../runtime/model.js'

export interface OnnxValidation {
  /** Largest |ONNX − kiln| over every logit checked. */
  maxAbsDiff: number
  /** Where it was: "prefill position 3" or "decode step 2". */
  worst: string
  atol: number
  /** Prompt tokens (all sequences'), then decode steps run (0 for an encoder). */
  promptTokens: number
  decodeSteps: number
  ok: boolean
}

/** ONNX Runtime for Node, when installed (an optional peer dependency). */
// biome-ignore lint/suspicious/noExplicitAny: onnxruntime-node is optional; its types may be absent
type Ort = any

export async function loadOnnxRuntime(): Promise<Ort | undefined> {
  try {
    const name = 'onnxruntime-node'
    return await import(name)
  } catch {
    return undefined
  }
}

export interface PastShape {
  name: string
  heads: number
  headDim: number
  /** float16 in an fp16 export. */
  type: 'float' | 'float16'
}

/** An output as float32: float16 outputs come back as raw bits (Node has no Float16Array). */
function asF32(data: Float32Array | Uint16Array): Float32Array {
  if (!(data instanceof Uint16Array)) return data
  const bits = Uint32Array.from(data, f16BitsToF32)
  return new Float32Array(bits.buffer)
}

export async function validateDecoder(
  ort: Ort,
  file: string,
  model: Model,
  past: PastShape[],
  ids: number[],
  atol: number,
  decodeSteps = 3,
): Promise<OnnxValidation> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2 })
  const V = model.config.vocabSize
  let worst = { diff: 0, where: 'none' }
  const compare = (got: Float32Array, want: Float32Array, rows: number, where: (r: number) => string) => {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < V; j++) {
        const d = Math.abs(got[r * V + j] - want[r * V + j])
        // NaN anywhere is a mismatch too.
        if (!(d <= worst.diff))
          worst = { diff: Number.isNaN(d) ? Number.POSITIVE_INFINITY : d, where: where(r) }
      }
    }
  }
  const i64 = (values: number[], dims: number[]) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(values, (v) => BigInt(v)),
      dims,
    )
  let feeds: Record<string, unknown> = {}
  for (const p of past)
    feeds[p.name] =
      p.type === 'float16'
        ? new ort.Tensor('float16', new Uint16Array(0), [1, p.heads, 0, p.headDim])
        : new ort.Tensor('float32', new Float32Array(0), [1, p.heads, 0, p.headDim])
  const seq = [...ids]
  let input = [...ids]
  for (let step = 0; step <= decodeSteps; step++) {
    const start = seq.length - input.length
    const out = await session.run({
      ...feeds,
      input_ids: i64(input, [1, input.length]),
      attention_mask: i64(new Array(seq.length).fill(1), [1, seq.length]),
      position_ids: i64(
        input.map((_, i) => start + i),
        [1, input.length],
      ),
    })
    const got = asF32(out.logits.data)
    const want = (await model.logits(seq)).subarray(start * V)
    compare(got, want, input.length, (r) => (step === 0 ? `prefill position ${r}` : `decode step ${step}`))
    // The next token is kiln's greedy choice, so both sides see the same sequence.
    const last = want.subarray((input.length - 1) * V)
    let next = 0
    for (let j = 1; j < V; j++) if (last[j] > last[next]) next = j
    feeds = {}
    for (const p of past) feeds[p.name] = out[p.name.replace('past_key_values', 'present')]
    seq.push(next)
    input = [next]
  }
  await session.release?.()
  return {
    maxAbsDiff: worst.diff,
    worst: worst.where,
    atol,
    promptTokens: ids.length,
    decodeSteps,
    ok: worst.diff <= atol,
  }
}

/** A validation that failed: the files stay for inspection; the export exits non-zero. */
export class OnnxValidationError extends KilnError {
  constructor(
    message: string,
    readonly validation: OnnxValidation,
  ) {
    super('E_VALIDATION', message)
  }
}

/** The encoder's outputs to compare: what the graph returns, and kiln's forward() arguments for it. */
export interface EncoderCheck {
  output: 'hidden' | 'logits'
  rows: 'all' | 'first'
  /** The ONNX output's name. */
  name: string
  hasTypes: boolean
  padId: number
}

/**
 * Runs `texts` as one right-padded batch in ONNX Runtime (as a tokenizer pads them) and compares
 * each sequence's rows with kiln's encoder on that sequence alone.
 */
export async function validateEncoder(
  ort: Ort,
  file: string,
  model: EncoderModel,
  sequences: number[][],
  check: EncoderCheck,
  atol: number,
): Promise<OnnxValidation> {
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2 })
  const width = Math.max(...sequences.map((s) => s.length))
  const flat = (f: (s: number[], j: number) => number) =>
    new ort.Tensor(
      'int64',
      BigInt64Array.from(
        sequences.flatMap((s) => Array.from({ length: width }, (_, j) => f(s, j))),
        (v) => BigInt(v),
      ),
      [sequences.length, width],
    )
  const feeds: Record<string, unknown> = {
    input_ids: flat((s, j) => (j < s.length ? s[j] : check.padId)),
    attention_mask: flat((s, j) => (j < s.length ? 1 : 0)),
  }
  if (check.hasTypes) feeds.token_type_ids = flat(() => 0)
  const out = await session.run(feeds)
  await session.release?.()
  const got = asF32(out[check.name].data)
  const want = await model.forward(
    sequences.map((ids) => ({ ids })),
    check.output,
    check.rows,
  )
  let worst = { diff: 0, where: 'none' }
  const cols = want[0].length / (check.rows === 'first' ? 1 : sequences[0].length)
  sequences.forEach((s, b) => {
    const rows = check.rows === 'first' ? 1 : s.length
    const base = b * (check.rows === 'first' ? 1 : width) * cols
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++) {
        const d = Math.abs(got[base + r * cols + c] - want[b][r * cols + c])
        if (!(d <= worst.diff))
          worst = { diff: Number.isNaN(d) ? Number.POSITIVE_INFINITY : d, where: `sequence ${b} row ${r}` }
      }
  })
  return {
    maxAbsDiff: worst.diff,
    worst: worst.where,
    atol,
    promptTokens: sequences.reduce((n, s) => n + s.length, 0),
    decodeSteps: 0,
    ok: worst.diff <= atol,
  }
}
