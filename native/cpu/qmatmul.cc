// Matmul against block-quantized weights. Steps of a few rows (decode) follow ggml's scheme: the
// activation rows are quantized once (Q8_0 for the 32-blocks, Q8_K for the K-quants) and every
// output is an integer dot product per block, scaled and summed in block order. Steps of many rows
// (prefill) run an int8 GEMM on repacked weight panels for Q4_0, Q5_0, Q4_K, Q5_K and Q6_K (the
// K-quants' give exactly the decode bits), for Q8_0 dequantize weight panels to f32 and run the f32
// tiles of matmul_avx512.cc or matmul_avx2.cc (those matmul_cpu picks), and for Q5_1 take the decode kernels' tiles. So for Q4_0, Q5_0 and Q8_0
// a row's result depends on which path its step took (within the activations' rounding), though
// never on the other rows or the thread count within one path.
// Threads split the output features M, so each weight row is streamed from memory by one thread.
// The AVX2 kernels (qmatmul_avx2.cc) run when the CPU has them, their AVX512-VNNI widening
// (qmatmul_avx512vnni.cc, the same bits) for decode when it has that, the AMX tile unit's GEMMs
// (qgemm_amx.cc, qgemm_k_amx.cc, the same bits again) for steps of 16 rows and more where it has
// that; this file's portable loop is their twin and the fallback.
#include <algorithm>

#include "cpu/amx_tiles.h"
#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/blocks.h"
#include "quant/quant_types.h"
#include "threadpool.h"

namespace kiln {

#if KILN_X86
bool matmul_quant_avx2(float* out, const uint8_t* xq, size_t xq_row_bytes, const void* w, DType dt,
                       const float* bias, int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M);
bool matmul_quant_avx512vnni(float* out, const uint8_t* xq, size_t xq_row_bytes, const void* w, DType dt,
                             const float* bias, int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M);
bool matmul_avx512_prefill_quant(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                                 int64_t K, int64_t M, float* packed, int ith, int nth);
size_t matmul_avx512_scratch(DType dt, int64_t K);
bool matmul_avx2_prefill_quant(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                               int64_t K, int64_t M, float* packed, int ith, int nth);
size_t matmul_avx2_scratch(DType dt, int64_t K, bool w_kxm);

void quantize_act_q8_0_avx2(const float* x, uint8_t* y, int64_t k);
void quantize_act_q8_K_avx512(const float* x, uint8_t* y, int64_t k);  // quantize_act_avx512.cc
void qgemm_q4_0_activation_row(const uint8_t* xq, int64_t nb, float* xd, uint8_t* xu);
size_t qgemm_q4_0_panel_bytes(int64_t K);
void qgemm_q4_0_avx2(float* out, const float* xd, const uint8_t* xu, const void* w, DType dt, const float* bias,
                     int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
size_t qgemm_q4_0_avx512vnni_panel_bytes(int64_t K);
void qgemm_q4_0_avx512vnni(float* out, const float* xd, const uint8_t* xu, const void* w, DType dt, const float* bias,
                           int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
size_t qgemm_q4_K_panel_bytes(int64_t K);
void qgemm_q4_K_avx2(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                     int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
void qgemm_q4_K_avx512vnni(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                           int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
size_t qgemm_q6_K_panel_bytes(int64_t K);
void qgemm_q6_K_avx2(float* out, const uint8_t* xq, size_t x_row, const void* w, const float* bias, int64_t N,
                     int64_t K, int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
#endif
#if KILN_AMX
// qgemm_amx.cc, qgemm_k_amx.cc: Q4_0/Q5_0 and Q4_K/Q5_K/Q6_K prefill on the AMX tile unit (the
// same bits as qgemm_avx2.cc's, qgemm_q4_k_avx2.cc's and qgemm_q6_k_avx2.cc's).
size_t qgemm_q4_0_amx_panel_bytes(int64_t K);
size_t qgemm_q4_0_amx_activation_bytes(int64_t N, int64_t K);
void qgemm_q4_0_amx_activations(uint8_t* xt, const uint8_t* xq, size_t x_row, int rows, int64_t K, DType dt);
void qgemm_q4_0_amx(float* out, const uint8_t* xt, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                    int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
size_t qgemm_k_amx_panel_bytes(DType dt, int64_t K);
size_t qgemm_k_amx_activation_bytes(int64_t N, int64_t K);
void qgemm_k_amx_activations(uint8_t* xt, const uint8_t* xq, size_t x_row, int rows, int64_t K);
void qgemm_k_amx(float* out, const uint8_t* xt, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                 int64_t m0, int64_t m1, int64_t M, uint8_t* panel);
#endif
#if KILN_ARM64
// qdot_neon.cc: the portable vec_dots' NEON twins (same integer sums, same float order: same bits),
// plain NEON and with the dotprod extension (sdot).
QuantVecDot* quant_vec_dot_neon(DType t, bool dotprod);
// qgemm_neon_i8mm.cc: steps of several rows, 2×2 tiles with smmla (the same bits again).
bool qgemm_neon_i8mm(float* out, const uint8_t* xq, size_t x_row, const void* w, DType dt, const float* bias,
                     int64_t N, int64_t K, int64_t m0, int64_t m1, int64_t M);
#endif

// Rows per step from which prefill kernels run instead of the decode ones.
constexpr int64_t kPrefillRows = 4;

static QuantWeightKernels make_kernels(DType t) {
  QuantWeightKernels k{};
  QuantType self_type;  // the block dtypes are named as their quant table rows
  if (!quant_type_from_name(dtype_info(t).name, &self_type)) return k;  // vec_dot stays null
  const QuantTypeInfo* self = &quant_type_info(self_type);
  k.act = dtype_info(t).block == QK_K ? QuantType::Q8_K : QuantType::Q8_0;
  const QuantTypeInfo* act = &quant_type_info(k.act);
  k.act_block = act->block;
  k.act_block_bytes = (size_t)act->block_bytes;
  k.quantize_act = act->quantize_row;
  k.dequantize = self->dequantize_row;
  switch (t) {
    case DType::Q4_0:
      k.vec_dot = vec_dot_q4_0_q8_0_portable;
      break;
    case DType::Q8_0:
      k.vec_dot = vec_dot_q8_0_q8_0_portable;
      break;
    case DType::Q4_K:
      k.vec_dot = vec_dot_q4_K_q8_K_portable;
      break;
    case DType::Q6_K:
      k.vec_dot = vec_dot_q6_K_q8_K_portable;
      break;
    case DType::Q5_0:
      k.vec_dot = vec_dot_q5_0_q8_0_portable;
      break;
    case DType::Q5_1:
      k.vec_dot = vec_dot_q5_1_q8_0_portable;
      break;
    case DType::Q5_K:
      k.vec_dot = vec_dot_q5_K_q8_K_portable;
      break;
    default:
      break;
  }
#if KILN_ARM64
  if (cpu_features().neon)
    if (QuantVecDot* fast = quant_vec_dot_neon(t, cpu_features().dotprod)) k.vec_dot = fast;
#endif
  return k;
}

const QuantWeightKernels* quant_weight_kernels(DType t) {
  static const QuantWeightKernels table[] = {
#define X(id, name, block, bytes) make_kernels(DType::id),
      KILN_DTYPE_LIST(X)
#undef X
  };
  if (!is_block_quant(t)) return nullptr;
  const QuantWeightKernels& k = table[(int)t];
  return k.vec_dot ? &k : nullptr;
}

void weight_row_to_f32(const void* w, DType t, int64_t row, int64_t k, float* out) {
  const uint8_t* p = (const uint8_t*)w + dtype_bytes(t, row * k);
  if (is_block_quant(t)) {
    quant_weight_kernels(t)->dequantize(p, out, k);
  } else if (t == DType::F32) {
    std::memcpy(out, p, (size_t)k * 4);
  } else {
    for (int64_t i = 0; i < k; i++) out[i] = load_as_f32(p, t, i);
  }
}

#if KILN_AMX
// Whether a step of N rows against dt weights takes an AMX GEMM: Q4_0, Q5_0, Q4_K, Q5_K and Q6_K
// from one whole tile of rows on (below it the VNNI or AVX2 tiles, which give the same bits, waste
// less of a tile).
static bool amx_gemm(DType dt, int64_t N) {
  return (dt == DType::Q4_0 || dt == DType::Q5_0 || dt == DType::Q4_K || dt == DType::Q5_K || dt == DType::Q6_K) &&
         cpu_features().amx() && N >= kAmxRows;
}
static bool is_k_quant(DType dt) { return dt == DType::Q4_K || dt == DType::Q5_K || dt == DType::Q6_K; }
static size_t amx_activation_bytes(DType dt, int64_t N, int64_t K) {
  return is_k_quant(dt) ? qgemm_k_amx_activation_bytes(N, K) : qgemm_q4_0_amx_activation_bytes(N, K);
}
static size_t amx_panel_bytes(DType dt, int64_t K) {
  return is_k_quant(dt) ? qgemm_k_amx_panel_bytes(dt, K) : qgemm_q4_0_amx_panel_bytes(K);
}
#endif

// Bytes of one quantized activation row.
static size_t act_row_bytes(const QuantWeightKernels& qk, int64_t K) {
  return (size_t)(K / qk.act_block) * qk.act_block_bytes;
}

// Shared: the step's quantized activation rows, then (Q4_0) their GEMM form: scales (N, nb) and
// unsigned quants (N, K). Own: one quantized row (decode on several threads), a repacked Q4_0 panel
// or the dequantized weight rows of the other types' prefill.
ScratchSize matmul_quant_scratch(DType dt, int64_t N, int64_t K) {
  const QuantWeightKernels* qk = quant_weight_kernels(dt);
  if (!qk) return {};
  const size_t row = act_row_bytes(*qk, K);
  ScratchSize s{cache_lines(row * (size_t)N), cache_lines(row)};
#if KILN_X86
  if (dt == DType::Q4_0 || dt == DType::Q5_0) {
    s.shared += cache_lines((size_t)(N * (K / QK4_0)) * sizeof(float)) + cache_lines((size_t)(N * K));
    s.own = std::max(s.own, qgemm_q4_0_panel_bytes(K));
    if (cpu_features().avx512vnni()) s.own = std::max(s.own, qgemm_q4_0_avx512vnni_panel_bytes(K));
  } else if (dt == DType::Q4_K || dt == DType::Q5_K) {
    s.own = std::max(s.own, qgemm_q4_K_panel_bytes(K));
  } else if (dt == DType::Q6_K) {
    s.own = std::max(s.own, qgemm_q6_K_panel_bytes(K));
  } else {
    s.own = std::max(s.own, matmul_avx2_scratch(dt, K, false));
    if (cpu_features().avx512()) s.own = std::max(s.own, matmul_avx512_scratch(dt, K));
  }
#endif
#if KILN_AMX
  if (amx_gemm(dt, N)) {  // the quantized rows, then their tiles (the AMX kernels' layouts)
    s.shared = std::max(s.shared, cache_lines(row * (size_t)N) + amx_activation_bytes(dt, N, K));
    s.own = std::max(s.own, amx_panel_bytes(dt, K));
  }
#endif
  return s;
}

void matmul_quant(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N, int64_t K,
                  int64_t M, const Scratch& scratch, int ith, int nth) {
  // Prefill: Q4_0, Q5_0, Q4_K, Q5_K and Q6_K run int8 GEMMs on repacked panels (qgemm_*.cc); Q8_0 dequantizes
  // weight panels once and reuses them for every row (f32 tiles, no activation rounding).
  // Decode: int8 dot products against quantized activations, as llama.cpp does.
#if KILN_X86
  const bool avx2 = cpu_features().avx2_fma;
#else
  const bool avx2 = false;  // elsewhere every step takes the vec_dots (NEON on ARM64)
#endif
  const bool prefill = N >= kPrefillRows && avx2;
  // Q4_0 and Q5_0 take their activations as scales and unsigned quants (qgemm_avx2.cc).
  const bool gemm32 = prefill && (dt == DType::Q4_0 || dt == DType::Q5_0);
  [[maybe_unused]] const bool gemm = gemm32 || (prefill && (dt == DType::Q4_K || dt == DType::Q5_K || dt == DType::Q6_K));
  // (Q8_0 through the same f32 tiles as matmul_cpu: AVX-512 when it picks them, else AVX2.)
#if KILN_X86
  if (prefill && !gemm && cpu_features().avx512() &&
      matmul_avx512_prefill_quant(out, x, w, dt, bias, N, K, M, (float*)scratch.own, ith, nth))
    return;
  if (prefill && !gemm &&
      matmul_avx2_prefill_quant(out, x, w, dt, bias, N, K, M, (float*)scratch.own, ith, nth))
    return;
#endif
  const QuantWeightKernels& qk = *quant_weight_kernels(dt);
  const size_t row_bytes = act_row_bytes(qk, K);
#if KILN_X86
  auto quantize_act = avx2 && qk.act == QuantType::Q8_0                          ? quantize_act_q8_0_avx2
                      : cpu_features().avx512() && qk.act == QuantType::Q8_K ? quantize_act_q8_K_avx512
                                                                              : qk.quantize_act;
#else
  auto quantize_act = qk.quantize_act;
#endif
#if KILN_AMX
  if (amx_gemm(dt, N)) {
    // Threads quantize whole tiles of rows and lay each out for the tile unit; all wait for all;
    // then each takes whole panels of 16 weight rows.
    const int64_t T = kAmxRows;
    const size_t tile_bytes = amx_activation_bytes(dt, T, K);
    uint8_t* xt = scratch.shared + cache_lines(row_bytes * (size_t)N);
    int64_t t0, t1;
    split_range((N + T - 1) / T, ith, nth, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
      const int rows = (int)std::min(T, N - t * T);
      for (int64_t n = t * T; n < t * T + rows; n++) quantize_act(x + n * K, scratch.shared + n * row_bytes, K);
      if (is_k_quant(dt))
        qgemm_k_amx_activations(xt + t * tile_bytes, scratch.shared + t * T * row_bytes, row_bytes, rows, K);
      else
        qgemm_q4_0_amx_activations(xt + t * tile_bytes, scratch.shared + t * T * row_bytes, row_bytes, rows, K, dt);
    }
    ThreadPool::global().barrier();
    int64_t m0, m1;
    split_range((M + T - 1) / T, ith, nth, &m0, &m1);
    m0 *= T;
    m1 = std::min(m1 * T, M);
    if (m0 < m1) (is_k_quant(dt) ? qgemm_k_amx : qgemm_q4_0_amx)(out, xt, w, dt, bias, N, K, m0, m1, M, scratch.own);
    return;
  }
#endif
  const int64_t nb = K / QK4_0;
  float* xd = (float*)(scratch.shared + cache_lines(row_bytes * (size_t)N));  // Q4_0/Q5_0 prefill only
  [[maybe_unused]] uint8_t* xu = (uint8_t*)xd + cache_lines((size_t)(N * nb) * sizeof(float));
  const uint8_t* xq;
  if (N == 1 && nth > 1) {
    // One row: every thread quantizes it itself (K floats; cheaper than a barrier).
    quantize_act(x, scratch.own, K);
    xq = scratch.own;
  } else {
    // Each thread quantizes its share of the rows into the shared buffer; then all wait for all.
    // (The graph's barrier after every node means no thread still reads the previous node's.)
    int64_t r0, r1;
    split_range(N, ith, nth, &r0, &r1);
    for (int64_t n = r0; n < r1; n++) {
      uint8_t* xr = scratch.shared + n * row_bytes;
      quantize_act(x + n * K, xr, K);
#if KILN_X86
      if (gemm32) qgemm_q4_0_activation_row(xr, nb, xd + n * nb, xu + n * K);
#endif
    }
    ThreadPool::global().barrier();
    xq = scratch.shared;
  }
  int64_t m0, m1;
#if KILN_X86
  if (gemm) {  // threads take whole panels of 8 weight rows
    split_range((M + 7) / 8, ith, nth, &m0, &m1);
    m0 *= 8;
    m1 = m1 * 8 < M ? m1 * 8 : M;
    if (m0 >= m1) return;
    if (gemm32 && cpu_features().avx512vnni())
      qgemm_q4_0_avx512vnni(out, xd, xu, w, dt, bias, N, K, m0, m1, M, scratch.own);
    else if (gemm32)
      qgemm_q4_0_avx2(out, xd, xu, w, dt, bias, N, K, m0, m1, M, scratch.own);
    else if ((dt == DType::Q4_K || dt == DType::Q5_K) && cpu_features().avx512vnni())
      qgemm_q4_K_avx512vnni(out, xq, row_bytes, w, dt, bias, N, K, m0, m1, M, scratch.own);
    else if (dt == DType::Q4_K || dt == DType::Q5_K)
      qgemm_q4_K_avx2(out, xq, row_bytes, w, dt, bias, N, K, m0, m1, M, scratch.own);
    else
      qgemm_q6_K_avx2(out, xq, row_bytes, w, bias, N, K, m0, m1, M, scratch.own);
    return;
  }
#endif
  split_range(M, ith, nth, &m0, &m1);
  if (m0 >= m1) return;
#if KILN_X86
  if (cpu_features().avx512vnni() && matmul_quant_avx512vnni(out, xq, row_bytes, w, dt, bias, N, K, m0, m1, M)) return;
  if (avx2 && matmul_quant_avx2(out, xq, row_bytes, w, dt, bias, N, K, m0, m1, M)) return;
#endif
#if KILN_ARM64
  if (N >= 2 && cpu_features().i8mm && qgemm_neon_i8mm(out, xq, row_bytes, w, dt, bias, N, K, m0, m1, M)) return;
#endif
  const size_t w_row = dtype_bytes(dt, K);
  for (int64_t m = m0; m < m1; m++) {
    const uint8_t* wr = (const uint8_t*)w + (size_t)m * w_row;
    for (int64_t n = 0; n < N; n++)
      out[n * M + m] = qk.vec_dot(wr, xq + (size_t)n * row_bytes, K) + (bias ? bias[m] : 0.f);
  }
}

}  // namespace kiln
