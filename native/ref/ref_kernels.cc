// Reference twins: the plainest loops that compute each op, single threaded (thread 0 does all the
// work). Fast kernels are tested against these on random odd shapes, and a whole model can run on
// this backend to check the fast one end to end.
#include <cmath>

#include "cpu/qweights.h"
#include "kernels.h"

namespace kiln {

// Block weights: one dequantized row (K floats) in the thread's scratch.
static ScratchSize matmul_scratch_ref(DType dt, int64_t N, int64_t K, int64_t M, bool w_kxm, bool gemm) {
  return {0, is_block_quant(dt) ? (size_t)K * sizeof(float) : 0};
}

// Sums in double whatever the order asked for (gemm): the reference for both.
static void matmul_ref(float* out, const float* x, const void* w, DType dt, const float* bias, int64_t N,
                       int64_t K, int64_t M, bool w_kxm, bool gemm, const Scratch& scratch, int ith, int nth) {
  if (ith != 0) return;
  if (is_block_quant(dt)) {  // dequantized weights times unquantized activations
    float* row = (float*)scratch.own;
    for (int64_t m = 0; m < M; m++) {
      weight_row_to_f32(w, dt, m, K, row);
      for (int64_t n = 0; n < N; n++) {
        double acc = bias ? bias[m] : 0.0;
        for (int64_t k = 0; k < K; k++) acc += (double)x[n * K + k] * row[k];
        out[n * M + m] = (float)acc;
      }
    }
    return;
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t m = 0; m < M; m++) {
      double acc = bias ? bias[m] : 0.0;
      for (int64_t k = 0; k < K; k++)
        acc += (double)x[n * K + k] * load_as_f32(w, dt, w_kxm ? k * M + m : m * K + k);
      out[n * M + m] = (float)acc;
    }
}

static void embedding_ref(float* out, const void* table, DType dt, const int32_t* ids, int64_t N, int64_t C, int ith,
                          int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) weight_row_to_f32(table, dt, ids[n], C, out + n * C);
}

static void rmsnorm_ref(float* out, const float* x, const float* w, int64_t N, int64_t C, float eps, int ith,
                        int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    double ss = 0;
    for (int64_t c = 0; c < C; c++) ss += (double)x[n * C + c] * x[n * C + c];
    double inv = 1.0 / std::sqrt(ss / C + eps);
    for (int64_t c = 0; c < C; c++) out[n * C + c] = (float)(w[c] * (x[n * C + c] * inv));
  }
}

static void layernorm_ref(float* out, const float* x, const float* w, const float* b, int64_t N, int64_t C,
                          float eps, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < C; c++) mean += x[n * C + c];
    mean /= C;
    for (int64_t c = 0; c < C; c++) var += (x[n * C + c] - mean) * (x[n * C + c] - mean);
    var /= C;
    for (int64_t c = 0; c < C; c++)
      out[n * C + c] = (float)((x[n * C + c] - mean) / std::sqrt(var + eps) * w[c] + b[c]);
  }
}

static void rope_ref(float* out, const float* x, const int32_t* pos, const float* inv_freq, int64_t N, int64_t H,
                     int64_t HS, bool interleaved, int ith, int nth) {
  if (ith != 0) return;
  int64_t half = HS / 2;
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < half; i++) {
        float a = (float)pos[n] * inv_freq[i];
        const float* xh = x + (n * H + h) * HS;
        float* oh = out + (n * H + h) * HS;
        int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
        float x0 = xh[i0], x1 = xh[i1];
        oh[i0] = x0 * std::cos(a) - x1 * std::sin(a);
        oh[i1] = x1 * std::cos(a) + x0 * std::sin(a);
      }
}

// Row p % BS of the block holding position p of slot s, for kv head h: its offset in the cache.
static size_t cache_row(const int32_t* blocks, int64_t s, int64_t p, int64_t h, int64_t NKV, int64_t BS, int64_t MB,
                        int64_t HS) {
  const size_t block = (size_t)blocks[s * MB + p / BS];
  return ((block * NKV + h) * BS + p % BS) * HS;
}

static void kv_store_ref(float* kcache, float* vcache, const float* k, const float* v, const int32_t* pos,
                         const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NKV, int64_t BS, int64_t MB,
                         int64_t HS, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < NKV; h++)
      for (int64_t d = 0; d < HS; d++) {
        size_t dst = cache_row(blocks, slot[n], pos[n], h, NKV, BS, MB, HS) + d;
        kcache[dst] = k[(n * NKV + h) * HS + d];
        vcache[dst] = v[(n * NKV + h) * HS + d];
      }
}

static void attention_ref(float* out, const float* q, const float* kcache, const float* vcache, const int32_t* pos,
                          const int32_t* slot, const int32_t* blocks, int64_t N, int64_t NH, int64_t NKV, int64_t BS,
                          int64_t MB, int64_t HS, float scale, float* scratch, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t h = 0; h < NH; h++) {
      int64_t kvh = h / (NH / NKV);
      auto kc = [&](int64_t j) { return kcache + cache_row(blocks, slot[n], j, kvh, NKV, BS, MB, HS); };
      auto vc = [&](int64_t j) { return vcache + cache_row(blocks, slot[n], j, kvh, NKV, BS, MB, HS); };
      double m = -INFINITY, sum = 0;
      for (int64_t j = 0; j <= pos[n]; j++) {
        double s = 0;
        for (int64_t d = 0; d < HS; d++) s += (double)q[(n * NH + h) * HS + d] * kc(j)[d];
        scratch[j] = (float)(s * scale);
        if (scratch[j] > m) m = scratch[j];
      }
      for (int64_t j = 0; j <= pos[n]; j++) sum += std::exp(scratch[j] - m);
      for (int64_t d = 0; d < HS; d++) {
        double o = 0;
        for (int64_t j = 0; j <= pos[n]; j++) o += std::exp(scratch[j] - m) / sum * vc(j)[d];
        out[(n * NH + h) * HS + d] = (float)o;
      }
    }
}

static void bidir_attention_ref(float* out, const float* q, const float* k, const float* v, const int32_t* pos,
                                int64_t N, int64_t NH, int64_t NKV, int64_t HS, float scale, float* scratch, int ith,
                                int nth) {
  if (ith != 0) return;
  for_each_sequence(pos, N, [&](int64_t start, int64_t end) {
    for (int64_t n = start; n < end; n++)
      for (int64_t h = 0; h < NH; h++) {
        int64_t kvh = h / (NH / NKV);
        double m = -INFINITY, sum = 0;
        for (int64_t j = start; j < end; j++) {
          double s = 0;
          for (int64_t d = 0; d < HS; d++) s += (double)q[(n * NH + h) * HS + d] * k[(j * NKV + kvh) * HS + d];
          scratch[j - start] = (float)(s * scale);
          if (scratch[j - start] > m) m = scratch[j - start];
        }
        for (int64_t j = start; j < end; j++) sum += std::exp(scratch[j - start] - m);
        for (int64_t d = 0; d < HS; d++) {
          double o = 0;
          for (int64_t j = start; j < end; j++) o += std::exp(scratch[j - start] - m) / sum * v[(j * NKV + kvh) * HS + d];
          out[(n * NH + h) * HS + d] = (float)o;
        }
      }
  });
}

static void add_ref(float* out, const float* a, const float* b, int64_t n, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void mul_ref(float* out, const float* a, const float* b, int64_t n, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

static void silu_mul_ref(float* out, const float* g, const float* u, int64_t n, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) out[i] = (float)(g[i] / (1.0 + std::exp(-(double)g[i])) * u[i]);
}

static void gelu_ref(float* out, const float* x, int64_t n, bool tanh_approx, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    out[i] = tanh_approx ? (float)(0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))))
                         : (float)(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
  }
}

static void tanh_ref(float* out, const float* x, int64_t n, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) out[i] = (float)std::tanh((double)x[i]);
}

static void relu_ref(float* out, const float* x, int64_t n, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t i = 0; i < n; i++) out[i] = x[i] > 0.f ? x[i] : 0.f;
}

static void softmax_ref(float* out, const float* x, int64_t N, int64_t C, int ith, int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < C; c++) m = x[n * C + c] > m ? x[n * C + c] : m;
    for (int64_t c = 0; c < C; c++) s += std::exp(x[n * C + c] - m);
    for (int64_t c = 0; c < C; c++) out[n * C + c] = (float)(std::exp(x[n * C + c] - m) / s);
  }
}

static void select_rows_ref(float* out, const float* x, const int32_t* rows, int64_t R, int64_t C, int ith,
                            int nth) {
  if (ith != 0) return;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) out[r * C + c] = x[(int64_t)rows[r] * C + c];
}

static void slice_cols_ref(float* out, const float* x, int64_t N, int64_t C, int64_t start, int64_t W, int ith,
                           int nth) {
  if (ith != 0) return;
  for (int64_t n = 0; n < N; n++)
    for (int64_t w = 0; w < W; w++) out[n * W + w] = x[n * C + start + w];
}

// Every kernel above is static: an op without its ref twin fails to compile here.
// Training twins: ref_train.cc.
causal_attention_kernel causal_attention_ref;
causal_attention_backward_kernel causal_attention_backward_ref;
scale_kernel scale_ref;
dropout_kernel dropout_ref;
matmul_backward_weight_kernel matmul_backward_weight_ref;
matmul_backward_input_kernel matmul_backward_input_ref;
bias_backward_kernel bias_backward_ref;
rmsnorm_backward_kernel rmsnorm_backward_ref;
rmsnorm_backward_weight_kernel rmsnorm_backward_weight_ref;
rope_backward_kernel rope_backward_ref;
silu_mul_backward_kernel silu_mul_backward_ref;
embedding_backward_kernel embedding_backward_ref;
cross_entropy_kernel cross_entropy_ref;
cross_entropy_backward_kernel cross_entropy_backward_ref;
adamw_kernel adamw_ref;
layernorm_backward_kernel layernorm_backward_ref;
layernorm_backward_weight_kernel layernorm_backward_weight_ref;
gelu_backward_kernel gelu_backward_ref;
slice_cols_backward_kernel slice_cols_backward_ref;
cross_entropy_stats_kernel cross_entropy_stats_ref;
cross_entropy_loss_kernel cross_entropy_loss_ref;
cross_entropy_chunk_backward_kernel cross_entropy_chunk_backward_ref;

const Backend& ref_backend() {
  static const Backend b = KILN_BACKEND(ref);
  return b;
}

}  // namespace kiln
