// The output types `kiln quantize` writes (a module of its own: the command's flags need it without
// loading the engine).
export const QUANTIZE_TYPES = ['q8_0', 'q4_0', 'q4_k_m', 'q6_k', 'f16', 'bf16'] as const
export type QuantizeType = (typeof QUANTIZE_TYPES)[number]
