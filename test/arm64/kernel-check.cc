// The CPU kernels that have ARM64 NEON bodies, against their reference twins (native/ref) on odd
// shapes, with no Node: `npm run test:arm64` cross-compiles this file with the kernels for ARM64 and
// runs it under qemu-user once per kernel tier (KILN_SIMD=portable, neon, dotprod, i8mm). The bounds are
// test/native/kernels.test.ts's and matmul.test.ts's; the quantized matmul is held to the portable
// vec_dot's exact bits, since every ARM64 tier sums the same integers in the same float order.
//   matmul (F32, F16, BF16): |fast − ref| ≤ (K + 8)·u·Σ|x·w| + 2u·(|ref| + |b|), and each row the same
//       bits alone as in the batch, on 1, 2 and 3 threads
//   matmul (Q4_0, Q8_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K): qmatmul.test.ts's bound against the dequantized
//       weights times the unquantized activations, and on ARM64 (and the portable tier) the portable
//       vec_dot's exact bits, on 1-3 threads
//   silu_mul, gelu (erf, tanh), attention (paged KV cache), bidir_attention: kernels.test.ts's bounds
// Prints one line per check and exits 1 when any fails.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/qweights.h"
#include "kernels.h"
#include "quant/quant_types.h"
#include "threadpool.h"

using namespace kiln;

namespace {

constexpr double U = 1.0 / (1 << 24);
int failures = 0;

// mulberry32, as test/helpers/numbers.ts: uniform in [-scale, scale).
struct Rand {
  uint32_t a;
  double next() {
    uint32_t t = a += 0x6D2B79F5u;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return (double)(t ^ (t >> 14)) / 4294967296.0;
  }
  std::vector<float> floats(size_t n, double scale = 1.0) {
    std::vector<float> v(n);
    for (float& f : v) f = (float)((next() * 2 - 1) * scale);
    return v;
  }
  int below(int n) { return (int)(next() * n); }
};

// 64-byte aligned floats or bytes, as the graph hands kernels their buffers.
struct Buf {
  std::vector<uint8_t> raw;
  uint8_t* p = nullptr;
  explicit Buf(size_t bytes) : raw(bytes + 64, 0) { p = raw.data() + (64 - (uintptr_t)raw.data() % 64) % 64; }
  float* f() { return (float*)p; }
};

void run_threads(int nth, const std::function<void(int, int)>& fn) {
  ThreadPool::global().run(nth, [&](int ith) { fn(ith, nth); });
}

// The worst |fast − ref| / tol over an output; a failing check prints where.
struct Worst {
  double ratio = 0;
  size_t at = 0;
  float fast = 0, ref = 0;
  void see(size_t i, float f, float r, double tol) {
    const double q = std::fabs((double)f - r) / (tol + 1e-300);
    if (!(q <= ratio)) ratio = q, at = i, fast = f, ref = r;
  }
};

void report(const std::string& what, bool ok, const std::string& detail) {
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  if (!ok) failures++;
}

void report_worst(const std::string& what, const Worst& w) {
  char d[160];
  std::snprintf(d, sizeof d, "worst %.3g of the bound (out[%zu] = %.9g, ref %.9g)", w.ratio, w.at, w.fast, w.ref);
  report(what, w.ratio <= 1, w.ratio <= 1 ? "" : d);
}

std::vector<float> run_matmul(const Backend& be, const std::vector<float>& x, const void* w, DType dt,
                              const float* bias, int64_t N, int64_t K, int64_t M, int nth) {
  const ScratchSize ss = be.matmul_scratch(dt, N, K, M, false, false);
  Buf shared(ss.shared), own(ss.own * (size_t)nth + 64 * (size_t)nth);
  Buf xb(x.size() * 4), out((size_t)(N * M) * 4);
  std::memcpy(xb.p, x.data(), x.size() * 4);
  const size_t own_stride = cache_lines(ss.own);
  run_threads(nth, [&](int ith, int n) {
    Scratch s{shared.p, own.p + own_stride * (size_t)ith};
    be.matmul(out.f(), xb.f(), w, dt, bias, N, K, M, false, false, s, ith, n);
  });
  return std::vector<float>(out.f(), out.f() + N * M);
}

bool same_bits(const float* a, const float* b, size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

void check_float_matmul(Rand& rnd) {
  const int64_t shapes[][3] = {{1, 7, 5}, {3, 33, 9}, {5, 64, 17}, {8, 130, 12}, {1, 257, 3}, {17, 96, 23}};
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    Worst worst;
    bool invariant = true;
    for (const auto& s : shapes) {
      const int64_t N = s[0], K = s[1], M = s[2];
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        const std::vector<float> x = rnd.floats((size_t)(N * K)), wf = rnd.floats((size_t)(M * K));
        const std::vector<float> b = rnd.floats((size_t)M);
        const float* bias = with_bias ? b.data() : nullptr;
        Buf w((size_t)(M * K) * 4);
        for (int64_t i = 0; i < M * K; i++) {
          if (dt == DType::F32) w.f()[i] = wf[i];
          if (dt == DType::F16) ((uint16_t*)w.p)[i] = f32_to_f16_rne(wf[i]);
          if (dt == DType::BF16) {  // truncate: any bf16 will do as a weight
            uint32_t u;
            std::memcpy(&u, &wf[i], 4);
            ((uint16_t*)w.p)[i] = (uint16_t)(u >> 16);
          }
        }
        const std::vector<float> ref = run_matmul(ref_backend(), x, w.p, dt, bias, N, K, M, 1);
        std::vector<float> first;
        for (int nth = 1; nth <= 3; nth++) {
          const std::vector<float> out = run_matmul(cpu_backend(), x, w.p, dt, bias, N, K, M, nth);
          for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++) {
              double abs = 0;
              for (int64_t k = 0; k < K; k++) abs += std::fabs((double)x[n * K + k] * load_as_f32(w.p, dt, m * K + k));
              const size_t i = (size_t)(n * M + m);
              const double bv = bias ? std::fabs(bias[m]) : 0;
              worst.see(i, out[i], ref[i], (double)(K + 8) * U * abs + 2 * U * (std::fabs(ref[i]) + bv));
            }
          if (nth == 1) first = out;
          else invariant = invariant && same_bits(first.data(), out.data(), first.size());
        }
        for (int64_t n = 0; n < N; n++) {  // each row alone: the batch's bits
          const std::vector<float> row(x.begin() + n * K, x.begin() + (n + 1) * K);
          const std::vector<float> alone = run_matmul(cpu_backend(), row, w.p, dt, bias, 1, K, M, 2);
          invariant = invariant && same_bits(alone.data(), first.data() + n * M, (size_t)M);
        }
      }
    }
    const std::string name = std::string("matmul ") + dtype_info(dt).name;
    report_worst(name + " vs ref", worst);
    report(name + ": a row's bits alone, in a batch, on 1-3 threads", invariant, "");
  }
}

bool portable_bits_expected() {
  const std::string tier = cpu_kernel_tier();
  return tier == "portable" || tier == "neon" || tier == "dotprod" || tier == "i8mm";
}

float portable_vec_dot(DType t, const uint8_t* w, const uint8_t* x, int64_t k) {
  switch (t) {
    case DType::Q4_0:
      return vec_dot_q4_0_q8_0_portable(w, x, k);
    case DType::Q8_0:
      return vec_dot_q8_0_q8_0_portable(w, x, k);
    case DType::Q5_0:
      return vec_dot_q5_0_q8_0_portable(w, x, k);
    case DType::Q5_1:
      return vec_dot_q5_1_q8_0_portable(w, x, k);
    case DType::Q4_K:
      return vec_dot_q4_K_q8_K_portable(w, x, k);
    case DType::Q5_K:
      return vec_dot_q5_K_q8_K_portable(w, x, k);
    case DType::Q6_K:
      return vec_dot_q6_K_q8_K_portable(w, x, k);
    default:
      std::abort();
  }
}

void check_quant_matmul(Rand& rnd) {
  for (DType dt : {DType::Q4_0, DType::Q8_0, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    QuantType qt;
    quant_type_from_name(dtype_info(dt).name, &qt);
    const QuantWeightKernels& qk = *quant_weight_kernels(dt);
    const int64_t blk = dtype_info(dt).block;
    const int64_t shapes[][3] = {{1, 1, 7}, {3, 2, 5}, {5, 3, 9}, {17, 4, 3}, {2, 1, 1}};
    bool ok = true;
    std::string detail;
    Worst worst;
    // Every ARM64 tier (and the portable one) sums the portable kernels' integers in their float order.
    const bool exact = portable_bits_expected();
    for (const auto& s : shapes) {
      const int64_t N = s[0], K = s[1] * blk, M = s[2];
      for (int with_bias = 0; with_bias < 2; with_bias++) {
        const std::vector<float> x = rnd.floats((size_t)(N * K), 3), wf = rnd.floats((size_t)(M * K));
        const std::vector<float> b = rnd.floats((size_t)M);
        const float* bias = with_bias ? b.data() : nullptr;
        const size_t w_row = dtype_bytes(dt, K);
        std::vector<uint8_t> w(w_row * (size_t)M);
        quantize_rows(qt, wf.data(), w.data(), M, K, 1);
        // What the portable path computes: activations quantized row by row, portable dots, + bias.
        const size_t x_row = (size_t)(K / qk.act_block) * qk.act_block_bytes;
        std::vector<uint8_t> xq(x_row);
        std::vector<float> want((size_t)(N * M));
        for (int64_t n = 0; n < N; n++) {
          qk.quantize_act(x.data() + n * K, xq.data(), K);
          for (int64_t m = 0; m < M; m++)
            want[(size_t)(n * M + m)] =
                portable_vec_dot(dt, w.data() + w_row * (size_t)m, xq.data(), K) + (bias ? bias[m] : 0.f);
        }
        // qmatmul.test.ts's bound: the activations' rounding (half a step, amax/254, per block) times
        // |w|, plus the float sums' rounding.
        std::vector<float> wd((size_t)K);
        std::vector<double> tol((size_t)(N * M));
        const std::vector<float> ref = run_matmul(ref_backend(), x, w.data(), dt, bias, N, K, M, 1);
        for (int64_t m = 0; m < M; m++) {
          qk.dequantize(w.data() + w_row * (size_t)m, wd.data(), K);
          for (int64_t n = 0; n < N; n++) {
            double quant = 0, abs = 0, amax = 0;
            for (int64_t k = 0; k < K; k++) {
              if (k % qk.act_block == 0) {
                amax = 0;
                for (int64_t j = k; j < k + qk.act_block; j++) amax = std::fmax(amax, std::fabs(x[(size_t)(n * K + j)]));
              }
              quant += std::fabs(wd[(size_t)k]) * amax / 254;
              abs += std::fabs((double)wd[(size_t)k] * x[(size_t)(n * K + k)]);
            }
            const size_t i = (size_t)(n * M + m);
            tol[i] = quant * 1.001 + 64 * U * abs + 2 * U * (std::fabs(ref[i]) + (bias ? std::fabs(bias[m]) : 0));
          }
        }
        for (int nth = 1; nth <= 3; nth++) {
          const std::vector<float> out = run_matmul(cpu_backend(), x, w.data(), dt, bias, N, K, M, nth);
          for (size_t i = 0; i < out.size(); i++) worst.see(i, out[i], ref[i], tol[i]);
          if (exact && !same_bits(out.data(), want.data(), want.size()) && ok) {
            ok = false;
            for (size_t i = 0; i < want.size(); i++)
              if (std::memcmp(&out[i], &want[i], 4) != 0) {
                char d[160];
                std::snprintf(d, sizeof d, "N=%lld K=%lld M=%lld threads=%d: out[%zu] = %.9g, portable %.9g",
                              (long long)N, (long long)K, (long long)M, nth, i, out[i], want[i]);
                detail = d;
                break;
              }
          }
        }
      }
    }
    report_worst(std::string("matmul ") + dtype_info(dt).name + " vs ref", worst);
    if (exact) report(std::string("matmul ") + dtype_info(dt).name + ": the portable vec_dot's bits", ok, detail);
  }
}

// One elementwise op against its ref twin over rows × widths, with tol(x, ref).
void check_elementwise(Rand& rnd, const char* what, double scale,
                       const std::function<void(const Backend&, float*, const float*, const float*, int64_t, int, int)>& op,
                       const std::function<double(float x, float ref)>& tol) {
  Worst worst;
  for (int64_t C : {1, 7, 33, 257, 1000})
    for (int64_t N : {1, 3, 17}) {
      const int64_t n = N * C;
      std::vector<float> a = rnd.floats((size_t)n, scale), b = rnd.floats((size_t)n, 3);
      if (n >= 13) {
        const float special[] = {0.f, -0.f, 1.f, -1.f, 0.999999f, 3.99f, 4.f, 4.01f, -4.5f, 10.f, -10.f, 1e-30f, -1e-30f};
        std::memcpy(a.data(), special, sizeof special);
      }
      std::vector<float> ref((size_t)n), out((size_t)n);
      run_threads(1, [&](int ith, int nth) { op(ref_backend(), ref.data(), a.data(), b.data(), n, ith, nth); });
      for (int nth = 1; nth <= 3; nth++) {
        run_threads(nth, [&](int ith, int t) { op(cpu_backend(), out.data(), a.data(), b.data(), n, ith, t); });
        for (int64_t i = 0; i < n; i++) worst.see((size_t)i, out[(size_t)i], ref[(size_t)i], tol(a[(size_t)i], ref[(size_t)i]));
      }
    }
  report_worst(what, worst);
}

void check_elementwise_ops(Rand& rnd) {
  check_elementwise(
      rnd, "silu_mul vs ref", 12,
      [](const Backend& be, float* o, const float* g, const float* u, int64_t n, int ith, int nth) {
        be.silu_mul(o, g, u, n, ith, nth);
      },
      [](float, float ref) { return 8 * U * std::fabs(ref); });
  for (bool tanh_approx : {false, true})
    check_elementwise(
        rnd, tanh_approx ? "gelu (tanh) vs ref" : "gelu (erf) vs ref", 6,
        [tanh_approx](const Backend& be, float* o, const float* x, const float*, int64_t n, int ith, int nth) {
          be.gelu(o, x, n, tanh_approx, ith, nth);
        },
        [tanh_approx](float x, float ref) {
          const double v = std::fabs(x);
          const double inner = tanh_approx ? 6 * 0.8 * (v + 0.045 * v * v * v) + 2 : 0.8 * v + 4;
          return 2 * U * (0.5 * v * inner + 2 * std::fabs(ref));
        });
}

// kernels.test.ts's attention bound for one (row, head): scores within c·u·max Σ|q·k|, then softmax
// and the weighted sum of value rows.
double attention_bound(const float* qh, const std::vector<const float*>& keys, const std::vector<const float*>& values,
                       int64_t HS, float scale, double c_score) {
  double max_qk = 0, max_v = 0, lo = INFINITY, hi = -INFINITY;
  for (size_t j = 0; j < keys.size(); j++) {
    double s = 0, a = 0;
    for (int64_t d = 0; d < HS; d++) {
      const double p = (double)qh[d] * keys[j][d];
      s += p, a += std::fabs(p);
      max_v = std::fmax(max_v, std::fabs(values[j][d]));
    }
    lo = std::fmin(lo, s * scale), hi = std::fmax(hi, s * scale);
    max_qk = std::fmax(max_qk, a * scale);
  }
  const double d_score = c_score * U * max_qk;
  return 2 * max_v * (2 * d_score + ((hi - lo) + 3 * (double)keys.size() + 10) * U);
}

void check_paged_attention(Rand& rnd) {
  Worst worst;
  const int64_t cases[][6] = {{1, 1, 1, 1, 1, 1},   {2, 4, 2, 13, 8, 4},   {3, 6, 2, 37, 12, 16},
                              {2, 3, 3, 9, 33, 2}, {3, 8, 1, 64, 64, 16}, {2, 2, 1, 40, 80, 16}};
  for (const auto& c : cases)
    for (int64_t N : {1, 3, 17}) {
      const int64_t S = c[0], NH = c[1], NKV = c[2], P = c[3], HS = c[4], BS = c[5];
      const int64_t MB = (P + BS - 1) / BS, NB = S * MB + 3;
      std::vector<int32_t> order((size_t)NB), table((size_t)(S * MB)), pos((size_t)N), slot((size_t)N);
      for (int64_t i = 0; i < NB; i++) order[(size_t)i] = (int32_t)i;
      for (int64_t i = NB - 1; i > 0; i--) std::swap(order[(size_t)i], order[(size_t)rnd.below((int)i + 1)]);
      for (int64_t i = 0; i < S * MB; i++) table[(size_t)i] = rnd.next() < 0.7 ? order[(size_t)i] : order[(size_t)(i % MB)];
      const std::vector<float> q = rnd.floats((size_t)(N * NH * HS), 2);
      const std::vector<float> kc = rnd.floats((size_t)(NB * NKV * BS * HS)), vc = rnd.floats((size_t)(NB * NKV * BS * HS));
      for (int64_t n = 0; n < N; n++) pos[(size_t)n] = rnd.below((int)P), slot[(size_t)n] = rnd.below((int)S);
      const float scale = 1.f / std::sqrt((float)HS);
      auto run = [&](const Backend& be, int nth) {
        std::vector<float> out((size_t)(N * NH * HS));
        Buf scratch((size_t)((nth + 1) * MB * BS + 64) * 4);
        run_threads(nth, [&](int ith, int t) {
          be.attention(out.data(), q.data(), kc.data(), vc.data(), pos.data(), slot.data(), table.data(), N, NH, NKV,
                       BS, MB, HS, scale, scratch.f(), ith, t);
        });
        return out;
      };
      const std::vector<float> ref = run(ref_backend(), 1);
      const int64_t group = NH / NKV;
      std::vector<double> bound((size_t)(N * NH));
      for (int64_t n = 0; n < N; n++)
        for (int64_t h = 0; h < NH; h++) {
          std::vector<const float*> ks, vs;
          for (int64_t j = 0; j <= pos[(size_t)n]; j++) {
            const size_t row = (((size_t)table[(size_t)(slot[(size_t)n] * MB + j / BS)] * NKV + h / group) * BS + j % BS) * HS;
            ks.push_back(kc.data() + row), vs.push_back(vc.data() + row);
          }
          bound[(size_t)(n * NH + h)] = attention_bound(q.data() + (n * NH + h) * HS, ks, vs, HS, scale, 2 * ((HS + 7) / 8) + 16);
        }
      for (int nth = 1; nth <= 3; nth++) {
        const std::vector<float> out = run(cpu_backend(), nth);
        for (size_t i = 0; i < out.size(); i++) worst.see(i, out[i], ref[i], bound[i / (size_t)HS]);
      }
    }
  report_worst("attention (paged KV cache) vs ref", worst);
}

void check_bidir_attention(Rand& rnd) {
  Worst worst;
  const int64_t heads[][3] = {{1, 1, 1}, {4, 2, 8}, {6, 3, 12}, {3, 3, 33}, {8, 1, 64}, {2, 1, 17}};
  const std::vector<std::vector<int64_t>> lengths = {{1}, {5}, {3, 1, 7}, {17, 2}, {1, 1, 1, 1}, {33, 6}, {70}};
  for (const auto& hc : heads)
    for (const auto& lens : lengths) {
      const int64_t NH = hc[0], NKV = hc[1], HS = hc[2];
      int64_t N = 0;
      std::vector<int32_t> pos;
      for (int64_t len : lens)
        for (int64_t i = 0; i < len; i++) pos.push_back((int32_t)i), N++;
      const std::vector<float> q = rnd.floats((size_t)(N * NH * HS), 2), k = rnd.floats((size_t)(N * NKV * HS), 2);
      const std::vector<float> v = rnd.floats((size_t)(N * NKV * HS), 3);
      const float scale = 1.f / std::sqrt((float)HS);
      auto run = [&](const Backend& be, int nth) {
        std::vector<float> out((size_t)(N * NH * HS));
        Buf scratch((size_t)((nth + 1) * bidir_attention_scratch(N, HS) + 64) * 4);
        run_threads(nth, [&](int ith, int t) {
          be.bidir_attention(out.data(), q.data(), k.data(), v.data(), pos.data(), N, NH, NKV, HS, scale, scratch.f(),
                             ith, t);
        });
        return out;
      };
      const std::vector<float> ref = run(ref_backend(), 1);
      const int64_t group = NH / NKV;
      std::vector<double> bound((size_t)(N * NH));
      int64_t start = 0;
      for (int64_t len : lens) {
        for (int64_t n = start; n < start + len; n++)
          for (int64_t h = 0; h < NH; h++) {
            std::vector<const float*> ks, vs;
            for (int64_t j = start; j < start + len; j++)
              ks.push_back(k.data() + (j * NKV + h / group) * HS), vs.push_back(v.data() + (j * NKV + h / group) * HS);
            const double c = std::fmax(2.0 * ((HS + 7) / 8) + 16, (double)HS + 2);
            bound[(size_t)(n * NH + h)] = attention_bound(q.data() + (n * NH + h) * HS, ks, vs, HS, scale, c);
          }
        start += len;
      }
      for (int nth = 1; nth <= 3; nth++) {
        const std::vector<float> out = run(cpu_backend(), nth);
        for (size_t i = 0; i < out.size(); i++) worst.see(i, out[i], ref[i], bound[i / (size_t)HS]);
      }
    }
  report_worst("bidir_attention vs ref", worst);
}

}  // namespace

int main() {
  const std::string env_error = cpu_simd_env_error();
  if (!env_error.empty()) {
    std::fprintf(stderr, "%s\n", env_error.c_str());
    return 2;
  }
  const CpuFeatures& f = cpu_features();
  std::printf("kernel tier %s (neon %d, dotprod %d, i8mm %d)\n", cpu_kernel_tier(), f.neon, f.dotprod, f.i8mm);
  Rand rnd{20261207};
  check_float_matmul(rnd);
  check_quant_matmul(rnd);
  check_elementwise_ops(rnd);
  check_paged_attention(rnd);
  check_bidir_attention(rnd);
  std::printf("%s: %d failed\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
