// N-API surface of the ONNX export's weight quantizers (native/quant/quantize_weights.cc): in
// JavaScript they were most of a q4 export's time (16-19 ns a weight). One call per weight, over
// the same strided view the JavaScript reads, into arrays the caller allocates; every size, stride
// and length is checked here, so that the kernels never index outside the arrays they are given.
#include "napi_all.h"

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "quant/quantize_weights.h"

namespace kiln {

namespace {

struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;

  [[noreturn]] void range(const std::string& why) const {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + why);
  }

  int64_t size(size_t i, const char* what) const {
    if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a number");
    const double v = info[i].As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= 9007199254740991.0) || std::floor(v) != v) range(std::string(what) + " must be a non-negative integer");
    return (int64_t)v;
  }

  template <typename T>
  T typed(size_t i, napi_typedarray_type type, const char* what, const char* type_name) const {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
      throw Napi::TypeError::New(info.Env(), std::string(fn) + ": " + what + " must be a " + type_name);
    return info[i].As<T>();
  }

  // The view (data, K, M, kStride, mStride) in arguments 0-4; the largest index it reads,
  // (K − 1) · kStride + (M − 1) · mStride, must be inside data (checked without overflow).
  StridedF32 view(Napi::Float32Array& data) const {
    data = typed<Napi::Float32Array>(0, napi_float32_array, "data", "Float32Array");
    StridedF32 w{data.Data(), size(1, "K"), size(2, "M"), size(3, "kStride"), size(4, "mStride")};
    if (w.K == 0 || w.M == 0) return w;
    uint64_t a, b, last;
    if (__builtin_mul_overflow((uint64_t)(w.K - 1), (uint64_t)w.k_stride, &a) ||
        __builtin_mul_overflow((uint64_t)(w.M - 1), (uint64_t)w.m_stride, &b) || __builtin_add_overflow(a, b, &last) ||
        last >= (uint64_t)data.ElementLength())
      range("(K - 1) · kStride + (M - 1) · mStride must be below data's " + std::to_string(data.ElementLength()) +
            " floats (K " + std::to_string(w.K) + ", M " + std::to_string(w.M) + ", kStride " + std::to_string(w.k_stride) +
            ", mStride " + std::to_string(w.m_stride) + ")");
    return w;
  }

  // An output's length must be `want` (overflow: the product past 2^64, which no array has).
  void length(const Napi::TypedArray& a, const char* what, uint64_t want, bool overflow, const char* formula) const {
    if (overflow || a.ElementLength() != want)
      range(std::string(what) + " has " + std::to_string(a.ElementLength()) + " elements, " + formula + " needs " +
            (overflow ? std::string("more than 2^64") : std::to_string(want)));
  }
};

// The kernels write the outputs while they read data: no two of them may share memory.
struct Span {
  const void* p;
  size_t bytes;
  const char* what;
};
template <typename T>
Span span(const Napi::TypedArrayOf<T>& a, const char* what) {
  return {a.Data(), a.ByteLength(), what};
}
void no_overlap(const Args& args, std::initializer_list<Span> spans) {
  for (auto i = spans.begin(); i != spans.end(); ++i)
    for (auto j = i + 1; j != spans.end(); ++j) {
      if (i->bytes == 0 || j->bytes == 0) continue;
      const uintptr_t a = (uintptr_t)i->p, b = (uintptr_t)j->p;
      if (a < b + j->bytes && b < a + i->bytes) args.range(std::string(i->what) + " and " + j->what + " share memory");
    }
}

// quantizeInt4Blocks / quantizeInt4Columns(data, K, M, kStride, mStride, packed: Uint8Array,
// scale: Float32Array): blocks: packed ⌈K · M / 2⌉ bytes, scale ⌈K / 32⌉ · M; columns: packed
// M · ⌈K / 32⌉ · 16 bytes, scale M · ⌈K / 32⌉.
template <bool kColumns>
Napi::Value QuantizeInt4(const Napi::CallbackInfo& info) {
  const Args args{info, kColumns ? "quantizeInt4Columns" : "quantizeInt4Blocks"};
  if (info.Length() < 7)
    throw Napi::TypeError::New(info.Env(), std::string(args.fn) + "(data, K, M, kStride, mStride, packed, scale)");
  Napi::Float32Array data;
  const StridedF32 w = args.view(data);
  auto packed = args.typed<Napi::Uint8Array>(5, napi_uint8_array, "packed", "Uint8Array");
  auto scale = args.typed<Napi::Float32Array>(6, napi_float32_array, "scale", "Float32Array");
  const uint64_t blocks = ((uint64_t)w.K + kInt4Block - 1) / kInt4Block;
  uint64_t scales = 0, bytes = 0;
  const bool big = __builtin_mul_overflow(blocks, (uint64_t)w.M, &scales);
  args.length(scale, "scale", scales, big, kColumns ? "M · ⌈K / 32⌉" : "⌈K / 32⌉ · M");
  if (kColumns) {
    const bool over = big || __builtin_mul_overflow(scales, (uint64_t)kInt4Block / 2, &bytes);
    args.length(packed, "packed", bytes, over, "M · ⌈K / 32⌉ · 16");
  } else {
    const bool over = __builtin_mul_overflow((uint64_t)w.K, (uint64_t)w.M, &bytes);
    args.length(packed, "packed", bytes / 2 + (bytes & 1), over, "⌈K · M / 2⌉");
  }
  no_overlap(args, {span(data, "data"), span(packed, "packed"), span(scale, "scale")});
  if (kColumns) quantize_int4_columns(w, packed.Data(), scale.Data());
  else quantize_int4_blocks(w, packed.Data(), scale.Data());
  return info.Env().Undefined();
}

// quantizeInt8Columns(data, K, M, kStride, mStride, signed: boolean, q: Uint8Array (K · M),
// scale: Float32Array (M), zero: Uint8Array (M)); signed: q holds int8 bytes.
Napi::Value QuantizeInt8Columns(const Napi::CallbackInfo& info) {
  const Args args{info, "quantizeInt8Columns"};
  if (info.Length() < 9)
    throw Napi::TypeError::New(info.Env(), "quantizeInt8Columns(data, K, M, kStride, mStride, signed, q, scale, zero)");
  Napi::Float32Array data;
  const StridedF32 w = args.view(data);
  if (!info[5].IsBoolean()) throw Napi::TypeError::New(info.Env(), "quantizeInt8Columns: signed must be a boolean");
  const bool is_signed = info[5].As<Napi::Boolean>().Value();
  auto q = args.typed<Napi::Uint8Array>(6, napi_uint8_array, "q", "Uint8Array");
  auto scale = args.typed<Napi::Float32Array>(7, napi_float32_array, "scale", "Float32Array");
  auto zero = args.typed<Napi::Uint8Array>(8, napi_uint8_array, "zero", "Uint8Array");
  uint64_t n = 0;
  const bool over = __builtin_mul_overflow((uint64_t)w.K, (uint64_t)w.M, &n);
  args.length(q, "q", n, over, "K · M");
  args.length(scale, "scale", (uint64_t)w.M, false, "M");
  args.length(zero, "zero", (uint64_t)w.M, false, "M");
  no_overlap(args, {span(data, "data"), span(q, "q"), span(scale, "scale"), span(zero, "zero")});
  quantize_int8_columns(w, is_signed, q.Data(), scale.Data(), zero.Data());
  return info.Env().Undefined();
}

}  // namespace

void add_int4_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("quantizeInt4Blocks", Napi::Function::New(env, QuantizeInt4<false>));
  exports.Set("quantizeInt4Columns", Napi::Function::New(env, QuantizeInt4<true>));
  exports.Set("quantizeInt8Columns", Napi::Function::New(env, QuantizeInt8Columns));
}

}  // namespace kiln
