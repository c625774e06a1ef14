// Logits processors and token choice, with the semantics of transformers' processors (applied in
// its order: repetition penalty, EOS suppression, temperature, top-k, top-p, min-p), and OpenAI's
// frequency and presence penalties over the generated tokens after the repetition penalty, where
// vLLM applies them. Runs once per
// generated token over V logits, so it lives here rather than in a JS loop.
#include "cpu/sample.h"

#include "cpu/arch.h"
#include "cpu/cpu_features.h"
#if KILN_X86
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace kiln {

static const float kNegInf = -INFINITY;

static void softmax_into(const float* x, int64_t V, std::vector<float>& p) {
  p.resize(V);
  float m = kNegInf;
  for (int64_t i = 0; i < V; i++) m = std::max(m, x[i]);
  double s = 0;
  for (int64_t i = 0; i < V; i++) {
    p[i] = x[i] == kNegInf ? 0.f : std::exp(x[i] - m);
    s += p[i];
  }
  for (int64_t i = 0; i < V; i++) p[i] = (float)(p[i] / s);
}

void apply_processors(float* logits, int64_t V, const SampleParams& sp) {
  // The constraint and the bias come first: they say what may be generated at all, and the
  // penalties and truncations then work within it (as vLLM orders its logits processors).
  if (sp.allow) {
    for (int64_t i = 0; i < V; i++) {
      const int64_t w = i >> 5;
      if (w >= sp.n_allow_words || !((sp.allow[w] >> (i & 31)) & 1u)) logits[i] = kNegInf;
    }
  }
  for (int64_t i = 0; i < sp.n_bias; i++)
    if (sp.bias_ids[i] >= 0 && sp.bias_ids[i] < V) logits[sp.bias_ids[i]] += sp.bias_values[i];
  if (sp.repetition_penalty != 1.f) {
    // Each distinct earlier token once: divide positive scores, multiply negative ones.
    std::vector<int32_t> seen(sp.history, sp.history + sp.n_history);
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen)
      if (t >= 0 && t < V) logits[t] = logits[t] < 0 ? logits[t] * sp.repetition_penalty : logits[t] / sp.repetition_penalty;
  }
  if (sp.frequency_penalty != 0.f || sp.presence_penalty != 0.f) {
    // logit -= frequency × count + presence, for each distinct generated token.
    std::vector<int32_t> gen(sp.generated, sp.generated + sp.n_generated);
    std::sort(gen.begin(), gen.end());
    for (size_t i = 0; i < gen.size();) {
      size_t j = i;
      while (j < gen.size() && gen[j] == gen[i]) j++;
      const int32_t t = gen[i];
      if (t >= 0 && t < V) logits[t] -= sp.frequency_penalty * (float)(j - i) + sp.presence_penalty;
      i = j;
    }
  }
  for (int64_t i = 0; i < sp.n_suppress; i++)
    if (sp.suppress[i] >= 0 && sp.suppress[i] < V) logits[sp.suppress[i]] = kNegInf;
  if (sp.temperature > 0.f && sp.temperature != 1.f)
    for (int64_t i = 0; i < V; i++) logits[i] /= sp.temperature;
  if (sp.top_k > 0 && sp.top_k < V) {
    // Keep everything at least as large as the k-th largest (ties at the threshold survive).
    std::vector<float> tmp(logits, logits + V);
    std::nth_element(tmp.begin(), tmp.begin() + (sp.top_k - 1), tmp.end(), std::greater<float>());
    float thr = tmp[sp.top_k - 1];
    for (int64_t i = 0; i < V; i++)
      if (logits[i] < thr) logits[i] = kNegInf;
  }
  std::vector<float> probs;
  if (sp.top_p < 1.f) {
    // Ascending order; drop the low tail whose cumulative probability is ≤ 1 - top_p, keep ≥ 1 token.
    softmax_into(logits, V, probs);
    std::vector<int32_t> idx(V);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return logits[a] < logits[b]; });
    double cum = 0;
    for (int64_t j = 0; j < V - 1; j++) {
      cum += probs[idx[j]];
      if (cum <= 1.0 - sp.top_p) logits[idx[j]] = kNegInf;
      else break;
    }
  }
  if (sp.min_p > 0.f) {
    softmax_into(logits, V, probs);
    float top = *std::max_element(probs.begin(), probs.end());
    float thr = sp.min_p * top;
    for (int64_t i = 0; i < V; i++)
      if (probs[i] < thr) logits[i] = kNegInf;
  }
}

// The first index of the largest value; NaNs never win, except at index 0, where nothing
// compares greater (the scalar loop below is the definition).
static int32_t argmax_scalar(const float* x, int64_t V) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; i++)
    if (x[i] > x[best]) best = i;
  return (int32_t)best;
}

#if KILN_X86
// The same answer in two vector passes: the largest non-NaN value m (vmaxps(x, acc) keeps acc
// when x is NaN; acc starts at x[0], not NaN), then the first index holding a value == m (so +0
// and -0 tie, as > has them). Greedy decoding runs it once a token over the vocabulary: 32000
// logits took ~24 µs in the scalar loop.
__attribute__((target("avx2"))) static int32_t argmax_avx2(const float* x, int64_t V) {
  if (std::isnan(x[0])) return 0;
  __m256 acc = _mm256_set1_ps(x[0]);
  int64_t i = 0;
  for (; i + 8 <= V; i += 8) acc = _mm256_max_ps(_mm256_loadu_ps(x + i), acc);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  float m = x[0];
  for (float v : lanes) m = v > m ? v : m;
  for (; i < V; i++) m = x[i] > m ? x[i] : m;
  const __m256 mv = _mm256_set1_ps(m);
  for (i = 0; i + 8 <= V; i += 8) {
    const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), mv, _CMP_EQ_OQ));
    if (hits) return (int32_t)(i + __builtin_ctz((unsigned)hits));
  }
  for (; i < V; i++)
    if (x[i] == m) return (int32_t)i;
  return 0;  // unreachable: m is one of the values
}
#endif

int32_t argmax(const float* x, int64_t V) {
#if KILN_X86
  if (cpu_features().avx2_fma) return argmax_avx2(x, V);
#endif
  return argmax_scalar(x, V);
}

int32_t sample_token(float* logits, int64_t V, const SampleParams& sp) {
  apply_processors(logits, V, sp);
  if (sp.temperature <= 0.f) return argmax(logits, V);
  std::vector<float> probs;
  softmax_into(logits, V, probs);
  double u = sp.uniform, cum = 0;
  int64_t last = 0;
  for (int64_t i = 0; i < V; i++) {
    if (probs[i] <= 0.f) continue;
    last = i;
    cum += probs[i];
    if (u < cum) return (int32_t)i;
  }
  return (int32_t)last;  // rounding left u just above the total
}

double log_sum_exp(const float* logits, int64_t V) {
  float m = kNegInf;
  for (int64_t i = 0; i < V; i++) m = std::max(m, logits[i]);
  if (m == kNegInf) return m;
  double s = 0;
  for (int64_t i = 0; i < V; i++) s += std::exp((double)logits[i] - m);
  return m + std::log(s);
}

void top_ids(const float* logits, int64_t V, int64_t k, int32_t* ids) {
  k = std::min(k, V);
  if (k <= 0) return;
  std::vector<int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  auto before = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), before);
  std::copy(idx.begin(), idx.begin() + k, ids);
}

}  // namespace kiln
