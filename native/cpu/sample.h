// Token selection over one row of logits (V).
#pragma once
#include <cstdint>

namespace kiln {

struct SampleParams {
  float temperature = 1.f;  // ≤ 0: greedy (processors still apply: repetition penalty, suppression)
  int64_t top_k = 0;        // 0: off
  float top_p = 1.f;        // 1: off
  float min_p = 0.f;        // 0: off
  float repetition_penalty = 1.f;
  const int32_t* history = nullptr;  // earlier ids (prompt + generated) for the repetition penalty
  int64_t n_history = 0;
  float frequency_penalty = 0.f;       // OpenAI's: minus this × the times a token was generated
  float presence_penalty = 0.f;        // OpenAI's: minus this once a token was generated at all
  const int32_t* generated = nullptr;  // the ids generated so far (not the prompt), for those two
  int64_t n_generated = 0;
  const int32_t* suppress = nullptr;  // ids forced to -inf (EOS before min_new_tokens)
  int64_t n_suppress = 0;
  // Constrained decoding: a bitset over the vocabulary (bit i of word i/32); ids whose bit is clear,
  // or past the last word, are forced to -inf. Null: every id allowed.
  const uint32_t* allow = nullptr;
  int64_t n_allow_words = 0;
  // OpenAI's logit_bias: added to the raw logits of these ids before the other processors.
  const int32_t* bias_ids = nullptr;
  const float* bias_values = nullptr;
  int64_t n_bias = 0;
  double uniform = 0;  // one draw in [0,1) from the caller's seeded generator
};

// In place, in transformers' order.
void apply_processors(float* logits, int64_t V, const SampleParams& sp);
int32_t argmax(const float* x, int64_t V);
// Applies the processors (modifying logits) and picks a token.
int32_t sample_token(float* logits, int64_t V, const SampleParams& sp);
// log Σ exp(logits): the normaliser of the model's own distribution (before any processor).
double log_sum_exp(const float* logits, int64_t V);
// The k largest logits' ids, largest first (ties: smaller id first), into ids[0..k).
void top_ids(const float* logits, int64_t V, int64_t k, int32_t* ids);

}  // namespace kiln
