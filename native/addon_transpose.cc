// N-API surface of a float32 matrix transpose, for the ONNX export: checkpoints keep a Linear
// weight as (out, in), ONNX's MatMul wants (in, out). Half a gigabyte of weights is a third of the
// export's time in JavaScript (strided writes, bounds checks); here it is a blocked copy.
#include "napi_all.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace kiln {

// out (n, rows) = src[:, c0 : c0 + n]ᵀ for src (rows, cols), in square tiles so that the tile's
// source rows and its destination rows both stay in cache.
static void transpose_f32(const float* src, float* out, int64_t rows, int64_t cols, int64_t c0, int64_t n) {
  constexpr int64_t TILE = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
    const int64_t r1 = std::min(r0 + TILE, rows);
    for (int64_t j0 = 0; j0 < n; j0 += TILE) {
      const int64_t j1 = std::min(j0 + TILE, n);
      for (int64_t j = j0; j < j1; j++) {
        float* dst = out + j * rows;
        const float* col = src + c0 + j;
        for (int64_t r = r0; r < r1; r++) dst[r] = col[r * cols];
      }
    }
  }
}

static int64_t whole_number(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string("transposeF32: ") + what + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= 9007199254740991.0) || std::floor(v) != v)
    throw Napi::Error::New(info.Env(), std::string("transposeF32: ") + what + " must be a non-negative integer");
  return (int64_t)v;
}

static Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), std::string("transposeF32: ") + what + " must be a Float32Array");
  return info[i].As<Napi::Float32Array>();
}

// transposeF32(src: Float32Array (rows, cols), rows, cols, c0, out: Float32Array (n, rows)):
// out = the columns c0 … c0 + n − 1 of src, transposed (n = out.length / rows). A slab at a time
// into one buffer, so that a weight's transpose never needs a second copy of all of it (on a VM
// where a first touch of memory costs microseconds a page, that copy is the cost).
static Napi::Value TransposeF32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5) throw Napi::TypeError::New(env, "transposeF32(src, rows, cols, c0, out)");
  Napi::Float32Array src = f32_arg(info, 0, "src");
  const int64_t rows = whole_number(info, 1, "rows"), cols = whole_number(info, 2, "cols");
  const int64_t c0 = whole_number(info, 3, "c0");
  Napi::Float32Array out = f32_arg(info, 4, "out");
  const int64_t n = (int64_t)src.ElementLength(), m = (int64_t)out.ElementLength();
  // Dividing instead of multiplying: rows × cols may overflow int64.
  if (cols == 0 ? n != 0 : (n % cols != 0 || n / cols != rows))
    throw Napi::Error::New(env, "transposeF32: src has " + std::to_string(n) + " floats, rows × cols = " +
                                    std::to_string(rows) + " × " + std::to_string(cols));
  if (rows == 0 ? m != 0 : m % rows != 0)
    throw Napi::Error::New(env, "transposeF32: out must hold whole columns of " + std::to_string(rows) + " floats");
  const int64_t take = rows == 0 ? 0 : m / rows;
  if (c0 > cols || take > cols - c0)
    throw Napi::Error::New(env, "transposeF32: columns " + std::to_string(c0) + " + " + std::to_string(take) +
                                    " pass the " + std::to_string(cols) + " src has");
  if (take > 0) transpose_f32(src.Data(), out.Data(), rows, cols, c0, take);
  return env.Undefined();
}

void add_transpose_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("transposeF32", Napi::Function::New(env, TransposeF32));
}

}  // namespace kiln
