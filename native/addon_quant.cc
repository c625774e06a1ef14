// N-API surface of block quantization: quantize and dequantize rows of ggml blocks, with their
// arguments checked (known type, integer sizes, whole blocks, matching buffer lengths).
#include "napi_all.h"

#include <cmath>
#include <cstdint>

#include "quant/quant_types.h"
#include "threadpool.h"

namespace kiln {

// Block quantization arguments: a known type, non-negative integer rows/cols, cols whole blocks.
static QuantType quant_args(const Napi::CallbackInfo& info, const char* fn, int64_t* rows, int64_t* cols) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString())
    throw Napi::TypeError::New(env, std::string(fn) + "(type, data, rows, cols): type must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  QuantType t;
  if (!quant_type_from_name(name.c_str(), &t)) {
    std::string known;  // the table's names, so the message follows new rows
    for (int i = 0; i < (int)QuantType::COUNT; i++) known += (i ? ", " : "") + std::string(quant_type_info((QuantType)i).name);
    throw Napi::Error::New(env, std::string(fn) + ": unknown quantization type \"" + name + "\" (" + known + ")");
  }
  for (int k = 2; k <= 3; k++) {
    if (!info[k].IsNumber()) throw Napi::TypeError::New(env, std::string(fn) + ": rows and cols must be numbers");
    double v = info[k].As<Napi::Number>().DoubleValue();
    if (!(v >= 0 && v <= 9007199254740991.0) || std::floor(v) != v)
      throw Napi::Error::New(env, std::string(fn) + ": rows and cols must be non-negative integers");
    (k == 2 ? *rows : *cols) = (int64_t)v;
  }
  const QuantTypeInfo& q = quant_type_info(t);
  if (*cols % q.block != 0)
    throw Napi::Error::New(env, std::string(fn) + ": " + q.name + " needs cols to be a multiple of " + std::to_string(q.block) +
                                    ", got " + std::to_string(*cols));
  return t;
}

// Fewer than 1 thread means 1 (as before); more than ThreadPool::max_threads() is refused, as the
// pool would start that many OS threads (and 2^31 wraps in Int32Value).
static int quant_threads(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return 1;
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "threads must be a number");
  double n = info[i].As<Napi::Number>().DoubleValue();
  const int max = ThreadPool::global().max_threads();
  if (n > max) throw Napi::RangeError::New(info.Env(), "threads must be at most " + std::to_string(max));
  return n >= 1 ? (int)n : 1;
}

// quantize(type, src: Float32Array (rows, cols), rows, cols, threads) -> Uint8Array of blocks
static Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, cols;
  QuantType t = quant_args(info, "quantize", &rows, &cols);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "quantize: src must be a Float32Array");
  Napi::Float32Array src = info[1].As<Napi::Float32Array>();
  // Dividing instead of multiplying: rows × cols may overflow int64.
  if ((cols == 0 ? 0 : rows) > (cols == 0 ? 0 : (int64_t)src.ElementLength() / cols) ||
      (int64_t)src.ElementLength() != rows * cols)
    throw Napi::Error::New(env, "quantize: src has " + std::to_string(src.ElementLength()) + " floats, rows × cols = " +
                                    std::to_string(rows) + " × " + std::to_string(cols));
  const QuantTypeInfo& q = quant_type_info(t);
  Napi::Uint8Array out = Napi::Uint8Array::New(env, (size_t)(rows * (cols / q.block) * q.block_bytes));
  const int nth = quant_threads(info, 4);
  // No elements: nothing to do, however many rows (2^53 empty rows would loop for hours).
  if (rows == 0 || cols == 0) return out;
  quantize_rows(t, src.Data(), out.Data(), rows, cols, nth);
  return out;
}

// dequantize(type, bytes: Uint8Array, rows, cols, threads?) -> Float32Array (rows, cols)
static Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, cols;
  QuantType t = quant_args(info, "dequantize", &rows, &cols);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "dequantize: bytes must be a Uint8Array");
  Napi::Uint8Array src = info[1].As<Napi::Uint8Array>();
  const QuantTypeInfo& q = quant_type_info(t);
  const int64_t row_bytes = cols / q.block * q.block_bytes;
  // rows × row_bytes can exceed int64 only for absurd rows; such a request cannot match any buffer.
  const bool huge = row_bytes != 0 && rows > INT64_MAX / row_bytes;
  if (huge || (int64_t)src.ByteLength() != rows * row_bytes)
    throw Napi::Error::New(env, "dequantize: " + std::string(q.name) + " (" + std::to_string(rows) + ", " + std::to_string(cols) +
                                    ") needs " + (huge ? std::string("over 2^63") : std::to_string(rows * row_bytes)) +
                                    " bytes, got " + std::to_string(src.ByteLength()));
  const int nth = quant_threads(info, 4);
  if (rows == 0 || cols == 0) return Napi::Float32Array::New(env, 0);  // as in quantize
  Napi::Float32Array out = Napi::Float32Array::New(env, (size_t)(rows * cols));
  dequantize_rows(t, src.Data(), out.Data(), rows, cols, nth);
  return out;
}

void add_quant_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("quantize", Napi::Function::New(env, Quantize));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize));
}

}  // namespace kiln
