// N-API surface of the addon: file mapping, the forward graph, token sampling, single-op runs for
// tests, and machine facts for `kiln env` and the benchmark (block quantization: addon_quant.cc).
// Native errors become JS exceptions.
#include "napi_all.h"

#include <unistd.h>

#include <cmath>
#include <memory>

#include "cpu/cpu_features.h"
#include "cpu/sample.h"
#include "graph.h"
#include "mapped_file.h"
#include "step_outputs.h"
#include "threadpool.h"

namespace kiln {

double measure_read_bandwidth(size_t bytes, int nth, int reps);
void add_quant_exports(Napi::Env env, Napi::Object exports);    // addon_quant.cc
void add_profile_exports(Napi::Env env, Napi::Object exports);  // addon_profile.cc
void add_transpose_exports(Napi::Env env, Napi::Object exports);  // addon_transpose.cc
void add_int4_exports(Napi::Env env, Napi::Object exports);       // addon_int4.cc

static std::unique_ptr<Device> device_by_name(Napi::Env env, const std::string& device, const std::string& backend) {
  try {
    return make_device(device, backend);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// Threads past ThreadPool::max_threads() are refused (the pool would start them all first), and so
// are counts Int32Value would wrap or truncate (2^31, NaN, 2.5).
static int threads_arg(Napi::Env env, Napi::Value v, const char* fn) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(fn) + ": threads must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  const int max = ThreadPool::global().max_threads();
  if (!(d >= 1 && d <= max) || std::floor(d) != d)
    throw Napi::RangeError::New(env, std::string(fn) + ": threads must be an integer in 1.." + std::to_string(max));
  return (int)d;
}

// Owned tensors (activations, KV caches) and kernel scratch are allocated from their declared
// shapes: a shape the machine's memory cannot hold (2^40 elements) is refused before allocating.
static uint64_t physical_memory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : (uint64_t)1 << 34;
}

static std::string get_string(Napi::Object o, const char* key, const char* def) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string(def);
}

// An index or small enum: a number outside int32 (2^31, 1e300, NaN) would wrap or become 0 in
// Int32Value and name a valid index; it is refused instead.
static int get_int(Napi::Object o, const char* key, int def) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return def;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || std::floor(d) != d)
    throw Napi::RangeError::New(o.Env(), std::string(key) + " must be an integer index, got " + std::to_string(d));
  return (int)d;
}

static int32_t index_value(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, what + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || std::floor(d) != d)
    throw Napi::RangeError::New(env, what + " must be an integer index");
  return (int32_t)d;
}

// A tensor spec: {name, dtype, shape, rows: 0 fixed | 1 tokens | 2 out, data?: ArrayBufferView}
static Tensor tensor_from_js(Napi::Env env, Napi::Object o, std::vector<Napi::Reference<Napi::Value>>& keep) {
  Tensor t;
  t.name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : std::string("?");
  std::string dt = o.Get("dtype").As<Napi::String>();
  if (!dtype_from_name(dt, &t.dtype)) throw Napi::Error::New(env, "tensor " + t.name + ": unknown dtype " + dt);
  Napi::Value shape_v = o.Get("shape");
  if (!shape_v.IsArray()) throw Napi::TypeError::New(env, "tensor " + t.name + ": shape must be an array");
  Napi::Array shape = shape_v.As<Napi::Array>();
  // Dimensions are integers, and their product (the element count, then the bytes) must not
  // overflow: a wrapped count would size a buffer smaller than the kernels index.
  if (shape.Length() > 8) throw Napi::RangeError::New(env, "tensor " + t.name + ": more than 8 dimensions");
  double elems = 1;
  for (uint32_t i = 0; i < shape.Length(); i++) {
    Napi::Value dv = shape.Get(i);
    if (!dv.IsNumber()) throw Napi::TypeError::New(env, "tensor " + t.name + ": dimensions must be numbers");
    double d = dv.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || std::floor(d) != d) throw Napi::RangeError::New(env, "tensor " + t.name + ": dimensions must be non-negative integers");
    if (d > 9007199254740991.0) throw Napi::RangeError::New(env, "tensor " + t.name + ": dimension past 2^53");
    elems *= d;
    t.shape.push_back((int64_t)d);
  }
  if (elems * 4 > 9007199254740991.0) throw Napi::RangeError::New(env, "tensor " + t.name + ": over 2^51 elements");
  int rows = get_int(o, "rows", 0);
  if (rows < 0 || rows > 2) throw Napi::RangeError::New(env, "tensor " + t.name + ": rows must be 0, 1 or 2");
  t.rows = (RowKind)rows;
  // The row count of a row-sized tensor is its first dimension.
  if (t.rows != RowKind::Fixed && t.shape.empty())
    throw Napi::RangeError::New(env, "tensor " + t.name + ": a row-sized tensor needs a first dimension");
  Napi::Value view = o.Get("view");
  if (view.IsObject()) {
    if (o.Get("data").IsTypedArray() || o.Get("data").IsDataView())
      throw Napi::Error::New(env, "tensor " + t.name + ": a view has no data of its own");
    Napi::Object v = view.As<Napi::Object>();
    t.storage = Storage::View;
    t.view_of = index_value(env, v.Get("of"), "tensor " + t.name + ": view.of");
    Napi::Value row = v.Get("row");
    double r = row.IsNumber() ? row.As<Napi::Number>().DoubleValue() : -1;
    if (!(r >= 0) || std::floor(r) != r || r > 9007199254740991.0)
      throw Napi::RangeError::New(env, "tensor " + t.name + ": view.row must be a non-negative integer");
    t.view_row = (int64_t)r;
    return t;
  }
  Napi::Value data = o.Get("data");
  if (data.IsTypedArray() || data.IsDataView()) {
    size_t offset, len;
    void* base;
    if (data.IsTypedArray()) {
      Napi::TypedArray ta = data.As<Napi::TypedArray>();
      base = ta.ArrayBuffer().Data();
      offset = ta.ByteOffset();
      len = ta.ByteLength();
    } else {
      Napi::DataView dv = data.As<Napi::DataView>();
      base = dv.ArrayBuffer().Data();
      offset = dv.ByteOffset();
      len = dv.ByteLength();
    }
    if (len != t.nbytes())
      throw Napi::Error::New(env, "tensor " + t.name + ": data has " + std::to_string(len) + " bytes, shape needs " + std::to_string(t.nbytes()));
    t.storage = Storage::External;
    t.data = (uint8_t*)base + offset;
    keep.emplace_back(Napi::Persistent(data));
  }
  return t;
}

static void node_from_js(Napi::Env env, Napi::Object o, Node* nd) {
  std::string op = o.Get("op").As<Napi::String>();
  if (!op_from_name(op, &nd->op)) throw Napi::Error::New(env, "unknown op \"" + op + "\"");
  for (int k = 0; k < kMaxInputs; k++) nd->inputs[k] = -1;
  for (int k = 0; k < kMaxParams; k++) {
    nd->f[k] = 0;
    nd->i[k] = 0;
  }
  Napi::Array in = o.Get("inputs").As<Napi::Array>();
  if ((int)in.Length() != op_info(nd->op).n_inputs)
    throw Napi::Error::New(env, op + ": takes " + std::to_string(op_info(nd->op).n_inputs) + " inputs, got " + std::to_string(in.Length()));
  for (uint32_t k = 0; k < in.Length(); k++) nd->inputs[k] = index_value(env, in.Get(k), op + ": input " + std::to_string(k));
  nd->output = index_value(env, o.Get("output"), op + ": output");
  if (o.Get("f").IsArray()) {
    Napi::Array f = o.Get("f").As<Napi::Array>();
    for (uint32_t k = 0; k < f.Length() && k < (uint32_t)kMaxParams; k++) nd->f[k] = f.Get(k).As<Napi::Number>().FloatValue();
  }
  if (o.Get("i").IsArray()) {
    Napi::Array iv = o.Get("i").As<Napi::Array>();
    for (uint32_t k = 0; k < iv.Length() && k < (uint32_t)kMaxParams; k++) nd->i[k] = iv.Get(k).As<Napi::Number>().Int64Value();
  }
}

static Napi::Int32Array as_i32(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be an Int32Array");
  return v.As<Napi::Int32Array>();
}

static Napi::Float32Array as_f32(Napi::Env env, Napi::Value v, const char* what = "logits") {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, std::string(what) + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

class GraphWrap : public Napi::ObjectWrap<GraphWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Graph",
                       {InstanceMethod("run", &GraphWrap::Run), InstanceMethod("runAsync", &GraphWrap::RunAsync),
                        InstanceMethod("dispose", &GraphWrap::Dispose), InstanceMethod("info", &GraphWrap::Info),
                        InstanceMethod("update", &GraphWrap::Update), InstanceMethod("readTensor", &GraphWrap::ReadTensor),
                        InstanceMethod("writeTensor", &GraphWrap::WriteTensor),
                        InstanceMethod("sumSquares", &GraphWrap::SumSquares)});
  }

  // new Graph({tensors, nodes, io: {tokens, positions, slots, outRows, output, types?}, device?, backend?}):
  // device "cpu" (default), backend: its kernel table, "cpu" (default) or "ref".
  GraphWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GraphWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "Graph(spec): spec must be an object");
    Napi::Object spec = info[0].As<Napi::Object>();
    graph_ = std::make_unique<Graph>();
    graph_->device = device_by_name(env, get_string(spec, "device", "cpu"), get_string(spec, "backend", "cpu"));
    Napi::Array ts = spec.Get("tensors").As<Napi::Array>();
    for (uint32_t i = 0; i < ts.Length(); i++) graph_->tensors.push_back(tensor_from_js(env, ts.Get(i).As<Napi::Object>(), keep_));
    Napi::Array ns = spec.Get("nodes").As<Napi::Array>();
    for (uint32_t i = 0; i < ns.Length(); i++) {
      Node nd;
      node_from_js(env, ns.Get(i).As<Napi::Object>(), &nd);
      graph_->nodes.push_back(nd);
    }
    if (spec.Get("update").IsArray()) {
      Napi::Array us = spec.Get("update").As<Napi::Array>();
      for (uint32_t i = 0; i < us.Length(); i++) {
        Node nd;
        node_from_js(env, us.Get(i).As<Napi::Object>(), &nd);
        graph_->update_nodes.push_back(nd);
      }
    }
    Napi::Object io = spec.Get("io").As<Napi::Object>();
    graph_->io.tokens = get_int(io, "tokens", -1);
    graph_->io.positions = get_int(io, "positions", -1);
    graph_->io.slots = get_int(io, "slots", -1);
    graph_->io.out_rows = get_int(io, "outRows", -1);
    graph_->io.output = get_int(io, "output", -1);
    graph_->io.types = get_int(io, "types", -1);
    graph_->io.blocks = get_int(io, "blocks", -1);
    graph_->io.targets = get_int(io, "targets", -1);
    graph_->io.hyper = get_int(io, "hyper", -1);
    graph_->forward_nodes = get_int(spec, "forwardNodes", -1);
    try {
      graph_->finalize(physical_memory());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

 private:
  struct Step {
    std::vector<int32_t> tokens, pos, slots, out_rows, types, blocks, targets;
    int nth = 1;
    bool forward_only = false;
  };

  Graph& live(Napi::Env env) {
    if (!graph_) throw Napi::Error::New(env, "graph was disposed");
    return *graph_;
  }

  Step read_step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5)
      throw Napi::TypeError::New(env, "run(tokens, positions, slots, outRows, threads, types?, blocks?)");
    auto copy = [&](int k, const char* what) {
      Napi::Int32Array a = as_i32(env, info[k], what);
      return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
    };
    Step s;
    s.tokens = copy(0, "tokens");
    s.pos = copy(1, "positions");
    s.slots = copy(2, "slots");
    s.out_rows = copy(3, "outRows");
    s.nth = threads_arg(env, info[4], "run");
    if (info.Length() > 5 && !info[5].IsUndefined()) s.types = copy(5, "types");
    if (info.Length() > 6 && !info[6].IsUndefined()) {
      s.blocks = copy(6, "blocks");
      const Graph& g = live(env);
      if (g.io.blocks < 0) throw Napi::Error::New(env, "this graph has no KV cache: it takes no block table");
      if ((int64_t)s.blocks.size() != g.slots() * g.blocks_per_slot())
        throw Napi::Error::New(env, "blocks must have slots × blocks per slot entries (" +
                                        std::to_string(g.slots() * g.blocks_per_slot()) + ")");
    }
    if (info.Length() > 7 && !info[7].IsUndefined()) {
      s.targets = copy(7, "targets");
      if (s.targets.size() != s.tokens.size()) throw Napi::Error::New(env, "targets must have one entry per token");
    }
    s.forward_only = info.Length() > 8 && info[8].ToBoolean().Value();
    if (s.pos.size() != s.tokens.size() || s.slots.size() != s.tokens.size())
      throw Napi::Error::New(env, "tokens, positions and slots must have the same length");
    if (!s.types.empty() && s.types.size() != s.tokens.size())
      throw Napi::Error::New(env, "types must have one entry per token");
    // The output is allocated from these counts before Graph::run checks them: check them first.
    const Graph& g = live(env);
    if ((int64_t)s.tokens.size() > g.max_rows() || (int64_t)s.out_rows.size() > g.max_out_rows())
      throw Napi::RangeError::New(env, "step has " + std::to_string(s.tokens.size()) + " rows and " + std::to_string(s.out_rows.size()) +
                                           " output rows; this graph takes at most " + std::to_string(g.max_rows()) + " and " +
                                           std::to_string(g.max_out_rows()));
    return s;
  }

  static void run_step(Graph& g, const Step& s, float* out) {
    std::lock_guard<std::mutex> lk(g.run_mu);
    g.run(s.tokens.data(), s.pos.data(), s.slots.data(), s.types.empty() ? nullptr : s.types.data(),
          s.blocks.empty() ? nullptr : s.blocks.data(), (int64_t)s.tokens.size(), s.out_rows.data(),
          (int64_t)s.out_rows.size(), out, s.nth, s.targets.empty() ? nullptr : s.targets.data(), s.forward_only);
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Graph& g = live(env);
    Step s = read_step(info);
    Napi::Float32Array out = Napi::Float32Array::New(env, s.out_rows.size() * g.out_cols());
    try {
      run_step(g, s, out.Data());
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return out;
  }

  class StepWorker : public Napi::AsyncWorker {
   public:
    StepWorker(Napi::Env env, GraphWrap* self, Step s)
        : Napi::AsyncWorker(env), self_(self), step_(std::move(s)), deferred_(Napi::Promise::Deferred::New(env)) {
      self_ref_ = Napi::Persistent(self->Value());
      floats_ = step_.out_rows.size() * self->graph_->out_cols();
      out_ = StepOutputs::take(floats_);
    }
    ~StepWorker() override { StepOutputs::give(out_, floats_); }
    // The caller's array to copy the output into and resolve with, instead of a new one.
    void set_target(Napi::Float32Array a) { target_ = Napi::Persistent(a); }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override {
      try {
        if (!self_->graph_) throw std::runtime_error("graph was disposed");
        run_step(*self_->graph_, step_, out_);
      } catch (const std::exception& e) {
        SetError(e.what());
      }
    }
    void OnOK() override {
      self_->busy_--;
      Napi::Float32Array a;
      if (target_.IsEmpty()) {
        a = Napi::Float32Array::New(Env(), floats_);
      } else {
        a = target_.Value();
        // Checked again here: JavaScript could have detached its buffer while the step ran.
        if (a.ElementLength() != floats_) {
          deferred_.Reject(Napi::Error::New(Env(), "runAsync: the output array was detached during the step").Value());
          return;
        }
      }
      // A step that asks for no output rows has nothing to copy, and both pointers are then null:
      // memcpy with a null pointer is undefined even for 0 bytes (UBSan reports it).
      if (floats_) std::memcpy(a.Data(), out_, floats_ * 4);
      deferred_.Resolve(a);
    }
    void OnError(const Napi::Error& e) override {
      self_->busy_--;
      deferred_.Reject(e.Value());
    }

   private:
    GraphWrap* self_;
    Napi::ObjectReference self_ref_;
    Step step_;
    size_t floats_ = 0;
    float* out_ = nullptr;  // the step's output (StepOutputs), copied out in OnOK
    Napi::Reference<Napi::Float32Array> target_;
    Napi::Promise::Deferred deferred_;
  };

  Napi::Value RunAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Step s = read_step(info);
    // out (argument 9): a Float32Array of exactly outRows × output columns to resolve with, so a
    // decode loop reuses one array instead of a new one a step
    Napi::Float32Array target;
    if (info.Length() > 9 && !info[9].IsUndefined()) {
      target = as_f32(env, info[9], "out");
      const int64_t cols = live(env).out_cols();
      const size_t floats = s.out_rows.size() * (size_t)cols;
      if (target.ElementLength() != floats)
        throw Napi::RangeError::New(env, "out must have outRows × " + std::to_string(cols) + " floats (" +
                                             std::to_string(floats) + ")");
    }
    auto* w = new StepWorker(env, this, std::move(s));
    if (!target.IsEmpty()) w->set_target(target);
    busy_++;
    w->Queue();
    return w->Promise();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (busy_ > 0) throw Napi::Error::New(info.Env(), "graph is running a step; await it before dispose()");
    graph_.reset();
    keep_.clear();
    return info.Env().Undefined();
  }

  // Training graphs (src/core/train): the optimizer step, and parameters, gradients and moments
  // read and written by tensor index (initialisation, checkpoints, the adapter written out).
  // update(hyper: Float32Array(8), threads)
  Napi::Value Update(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Graph& g = live(env);
    idle(env);
    Napi::Float32Array h = as_f32(env, info[0], "hyper");
    if (h.ElementLength() != (size_t)kAdamwHyper) throw Napi::RangeError::New(env, "update: hyper must have 8 floats");
    const int nth = threads_arg(env, info[1], "update");
    guarded(env, [&] {
      std::lock_guard<std::mutex> lk(g.run_mu);
      g.update(h.Data(), nth);
    });
    return env.Undefined();
  }

  Napi::Value ReadTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Graph& g = live(env);
    idle(env);
    int t = index_value(env, info[0], "readTensor: tensor");
    if (t < 0 || t >= (int)g.tensors.size() || g.tensors[t].dtype != DType::F32 || !g.tensors[t].data)
      throw Napi::RangeError::New(env, "readTensor: not an f32 tensor of the graph");
    Napi::Float32Array out = Napi::Float32Array::New(env, (size_t)g.tensors[t].elems());
    g.read(t, out.Data());
    return out;
  }

  Napi::Value WriteTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Graph& g = live(env);
    idle(env);
    int t = index_value(env, info[0], "writeTensor: tensor");
    Napi::Float32Array src = as_f32(env, info[1], "writeTensor: data");
    guarded(env, [&] { g.write_tensor(t, src.Data(), src.ElementLength()); });
    return env.Undefined();
  }

  Napi::Value SumSquares(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Graph& g = live(env);
    idle(env);
    Napi::Int32Array ids = as_i32(env, info[0], "sumSquares: ids");
    double total = 0;
    guarded(env, [&] { total = g.sum_squares(std::vector<int>(ids.Data(), ids.Data() + ids.ElementLength())); });
    return Napi::Number::New(env, total);
  }

  void idle(Napi::Env env) const {
    if (busy_ > 0) throw Napi::Error::New(env, "graph is running a step; await it first");
  }

  template <typename F>
  static void guarded(Napi::Env env, F&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Graph& g = live(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("maxRows", (double)g.max_rows());
    o.Set("maxOutRows", (double)g.max_out_rows());
    o.Set("vocab", (double)g.vocab());
    o.Set("outCols", (double)g.out_cols());
    o.Set("positions", (double)g.positions());
    o.Set("slots", (double)g.slots());
    o.Set("kvBlocks", (double)g.kv_blocks());
    o.Set("blockSize", (double)g.block_size());
    o.Set("blocksPerSlot", (double)g.blocks_per_slot());
    o.Set("activationBytes", (double)g.activation_bytes());
    o.Set("device", g.device->name());
    o.Set("backend", g.device->kernels().name);
    return o;
  }

  std::unique_ptr<Graph> graph_;
  std::vector<Napi::Reference<Napi::Value>> keep_;  // weight buffers stay mapped while the graph lives
  int busy_ = 0;
};

// runOp(backend, {op, inputs, f, i, output}, tensors[], threads) -> Float32Array of the output.
// Single-op execution on the cpu device for the kernel tests (fast vs reference on random shapes).
// Tensors given with data are placed on the device, which on the CPU reads and writes them in
// place (kv_store's caches); the others start zeroed.
static Napi::Value RunOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsArray())
    throw Napi::TypeError::New(env, "runOp(backend, node, tensors, threads)");
  const int nth = threads_arg(env, info[3], "runOp");
  Graph g;
  g.device = device_by_name(env, "cpu", info[0].As<Napi::String>());
  std::vector<Napi::Reference<Napi::Value>> keep;
  Napi::Array ts = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < ts.Length(); i++) g.tensors.push_back(tensor_from_js(env, ts.Get(i).As<Napi::Object>(), keep));
  Node nd;
  node_from_js(env, info[1].As<Napi::Object>(), &nd);
  g.nodes.push_back(nd);
  Napi::Float32Array a;
  try {
    g.finalize_op(physical_memory());
    g.execute(nth);
    a = Napi::Float32Array::New(env, g.tensors[nd.output].elems());
    g.read(nd.output, a.Data());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return a;
}

// backends() -> [{device, name, ops}]: every kernel table this build has and the ops it implements
// (a table always has every op; the entries are listed from the table itself).
static Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t k = 0;
  for (const DeviceBackend& d : device_backends()) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("device", d.device);
    o.Set("name", d.kernels.name);
    Napi::Array ops = Napi::Array::New(env);
    uint32_t n = 0;
    for (int i = 0; i < kOpCount; i++)
      if (backend_kernel(d.kernels, (Op)i)) ops.Set(n++, op_info((Op)i).name);
    o.Set("ops", ops);
    out.Set(k++, o);
  }
  return out;
}


// {temperature, topK, topP, minP, repetitionPenalty, frequencyPenalty, presencePenalty, history, generated,
//  suppress, uniform}
static SampleParams sample_params(Napi::Env env, Napi::Object o, std::vector<int32_t>& hist, std::vector<int32_t>& gen,
                                  std::vector<int32_t>& sup, std::vector<uint32_t>& allow, std::vector<int32_t>& bias_ids,
                                  std::vector<float>& bias_values) {
  SampleParams sp;
  auto num = [&](const char* k, double def) { Napi::Value v = o.Get(k); return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def; };
  sp.temperature = (float)num("temperature", 1.0);
  // (int64_t) of NaN or of a double past 2^63 is undefined: those mean "no top-k" or "all of them".
  const double top_k = num("topK", 0);
  sp.top_k = !(top_k > 0) ? 0 : top_k >= 4611686018427387904.0 ? INT64_C(4611686018427387904) : (int64_t)top_k;
  sp.top_p = (float)num("topP", 1.0);
  sp.min_p = (float)num("minP", 0.0);
  sp.repetition_penalty = (float)num("repetitionPenalty", 1.0);
  sp.frequency_penalty = (float)num("frequencyPenalty", 0.0);
  sp.presence_penalty = (float)num("presencePenalty", 0.0);
  sp.uniform = num("uniform", 0.0);
  if (o.Get("generated").IsTypedArray()) {
    Napi::Int32Array g = as_i32(env, o.Get("generated"), "generated");
    gen.assign(g.Data(), g.Data() + g.ElementLength());
  }
  if (o.Get("history").IsTypedArray()) {
    Napi::Int32Array h = as_i32(env, o.Get("history"), "history");
    hist.assign(h.Data(), h.Data() + h.ElementLength());
  }
  if (o.Get("suppress").IsTypedArray()) {
    Napi::Int32Array s = as_i32(env, o.Get("suppress"), "suppress");
    sup.assign(s.Data(), s.Data() + s.ElementLength());
  }
  if (o.Get("allow").IsTypedArray()) {
    Napi::TypedArray a = o.Get("allow").As<Napi::TypedArray>();
    if (a.TypedArrayType() != napi_uint32_array) throw Napi::TypeError::New(env, "allow must be a Uint32Array");
    Napi::Uint32Array u = a.As<Napi::Uint32Array>();
    allow.assign(u.Data(), u.Data() + u.ElementLength());
    sp.allow = allow.data();
    sp.n_allow_words = (int64_t)allow.size();
  }
  if (o.Get("biasIds").IsTypedArray()) {
    Napi::Int32Array ids = as_i32(env, o.Get("biasIds"), "biasIds");
    Napi::Float32Array values = as_f32(env, o.Get("biasValues"));
    if (values.ElementLength() != ids.ElementLength())
      throw Napi::Error::New(env, "biasIds and biasValues must have the same length");
    bias_ids.assign(ids.Data(), ids.Data() + ids.ElementLength());
    bias_values.assign(values.Data(), values.Data() + values.ElementLength());
    for (float v : bias_values)
      if (!std::isfinite(v)) throw Napi::Error::New(env, "logit biases must be finite");
    sp.bias_ids = bias_ids.data();
    sp.bias_values = bias_values.data();
    sp.n_bias = (int64_t)bias_ids.size();
  }
  sp.history = hist.data();
  sp.n_history = (int64_t)hist.size();
  sp.generated = gen.data();
  sp.n_generated = (int64_t)gen.size();
  sp.suppress = sup.data();
  sp.n_suppress = (int64_t)sup.size();
  if (!std::isfinite(sp.frequency_penalty) || !std::isfinite(sp.presence_penalty))
    throw Napi::Error::New(env, "frequency and presence penalties must be finite");
  if (sp.repetition_penalty <= 0.f) throw Napi::Error::New(env, "repetition penalty must be > 0");
  if (sp.top_p <= 0.f || sp.top_p > 1.f) throw Napi::Error::New(env, "top_p must be in (0, 1]");
  if (sp.min_p < 0.f || sp.min_p > 1.f) throw Napi::Error::New(env, "min_p must be in [0, 1]");
  return sp;
}

// The output arrays of a log-probability report: 1 + k values and k ids, k at most V.
static void check_logprob_arrays(Napi::Env env, int64_t V, Napi::Float32Array out, Napi::Int32Array ids) {
  const int64_t k = (int64_t)ids.ElementLength();
  if ((int64_t)out.ElementLength() != 1 + k) throw Napi::Error::New(env, "logprobs must hold 1 + logprobIds.length values");
  if (k > V) throw Napi::Error::New(env, "more top logprobs than the vocabulary has");
}

// out[0] = log p(id), then ids = the k most likely tokens (k = ids.length) and out[1..k] theirs, under
// the distribution of `logits` (V values, unchanged). The arrays were checked.
static void write_logprobs(const float* logits, int64_t V, int32_t id, Napi::Float32Array out, Napi::Int32Array ids) {
  // Everything is read before anything is written: the arrays may share memory with each other.
  const int64_t k = (int64_t)ids.ElementLength();
  const double lse = log_sum_exp(logits, V);
  std::vector<int32_t> top((size_t)k);
  top_ids(logits, V, k, top.data());
  std::vector<float> values((size_t)(1 + k));
  values[0] = (float)(logits[id] - lse);
  for (int64_t j = 0; j < k; j++) values[1 + j] = (float)(logits[top[j]] - lse);
  for (int64_t j = 0; j < k; j++) ids[(size_t)j] = top[j];
  for (int64_t j = 0; j <= k; j++) out[(size_t)j] = values[(size_t)j];
}

// sampleToken(logits: Float32Array (modified in place), params) -> token id. With
// params.logprobs (Float32Array, 1 + k) and params.logprobIds (Int32Array, k): the chosen token's
// log-probability, then the k most likely tokens' ids and log-probabilities, all under the model's
// own distribution (the logits as they came, before constraint, bias, penalties or temperature).
static Napi::Value SampleToken(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array l = as_f32(env, info[0]);
  // An empty vocabulary has no token to choose: sample_token would return id 0 and the logprobs
  // would be read at it.
  if (l.ElementLength() == 0) throw Napi::RangeError::New(env, "logits must not be empty");
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "sampleToken(logits, params): params must be an object");
  Napi::Object params = info[1].As<Napi::Object>();
  std::vector<int32_t> h, g, s, bi;
  std::vector<uint32_t> allow;
  std::vector<float> bv;
  SampleParams sp = sample_params(env, params, h, g, s, allow, bi, bv);
  const int64_t V = (int64_t)l.ElementLength();
  if (!params.Get("logprobs").IsTypedArray()) return Napi::Number::New(env, sample_token(l.Data(), V, sp));
  Napi::Float32Array out = as_f32(env, params.Get("logprobs"));
  Napi::Int32Array ids = as_i32(env, params.Get("logprobIds"), "logprobIds");
  check_logprob_arrays(env, V, out, ids);
  // The distribution before sampling changes the logits in place.
  std::vector<float> raw(l.Data(), l.Data() + V);
  const int32_t id = sample_token(l.Data(), V, sp);
  write_logprobs(raw.data(), V, id, out, ids);
  return Napi::Number::New(env, id);
}

// tokenLogprobs(logits: Float32Array, id, logprobs: Float32Array (1 + k), logprobIds: Int32Array
// (k)): token id's log-probability and the k most likely tokens', as sampleToken reports a chosen
// token's, for a token that was given rather than sampled (a prompt's). The logits are not changed.
static Napi::Value TokenLogprobs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "tokenLogprobs(logits, id, logprobs, logprobIds)");
  Napi::Float32Array l = as_f32(env, info[0]);
  const int64_t V = (int64_t)l.ElementLength();
  const double id = info[1].As<Napi::Number>().DoubleValue();
  if (!(id >= 0 && id < (double)V && id == std::floor(id)))
    throw Napi::RangeError::New(env, "tokenLogprobs: id must be a token id of the logits");
  Napi::Float32Array out = as_f32(env, info[2]);
  Napi::Int32Array ids = as_i32(env, info[3], "logprobIds");
  check_logprob_arrays(env, V, out, ids);
  write_logprobs(l.Data(), V, (int32_t)id, out, ids);
  return env.Undefined();
}

// applyProcessors(logits: Float32Array (in place), params)
static Napi::Value ApplyProcessors(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array l = as_f32(env, info[0]);
  // As in sampleToken: min-p would take the largest of no probabilities.
  if (l.ElementLength() == 0) throw Napi::RangeError::New(env, "logits must not be empty");
  std::vector<int32_t> h, g, s, bi;
  std::vector<uint32_t> allow;
  std::vector<float> bv;
  if (info.Length() < 2 || !info[1].IsObject())
    throw Napi::TypeError::New(env, "applyProcessors(logits, params): params must be an object");
  SampleParams sp = sample_params(env, info[1].As<Napi::Object>(), h, g, s, allow, bi, bv);
  apply_processors(l.Data(), (int64_t)l.ElementLength(), sp);
  return env.Undefined();
}

static Napi::Value CpuInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const CpuFeatures& f = cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avx2", f.avx2_fma);
  o.Set("fma", f.avx2_fma);
  o.Set("f16c", f.f16c);
  o.Set("avx512f", f.avx512f);
  o.Set("avxvnni", f.avx_vnni);
  o.Set("avx512vnni", f.avx512_vnni);
  o.Set("amx", f.amx_int8);
  o.Set("neon", f.neon);
  o.Set("dotprod", f.dotprod);
  o.Set("i8mm", f.i8mm);
  o.Set("kernels", cpu_kernel_tier());
  o.Set("hardwareThreads", ThreadPool::global().hardware_threads());
  Napi::Array backends = Napi::Array::New(env);
  backends.Set(0u, "cpu");
  o.Set("backends", backends);
  Napi::Array ops = Napi::Array::New(env);
  for (int i = 0; i < kOpCount; i++) ops.Set((uint32_t)i, op_info((Op)i).name);
  o.Set("ops", ops);
  return o;
}

// measureReadBandwidth(bytes, threads, reps) -> bytes per second (best of reps)
// The buffer is allocated and written before the first rep: its size is bounded (1 GiB is well past
// every cache, which is all the measurement needs), and so are the threads and the reps.
static Napi::Value MeasureBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto arg = [&](size_t k, double lo, double hi, const char* what) {
    if (info.Length() <= k || !info[k].IsNumber())
      throw Napi::TypeError::New(env, std::string("measureReadBandwidth(bytes, threads, reps): ") + what + " must be a number");
    double d = info[k].As<Napi::Number>().DoubleValue();
    if (!(d >= lo && d <= hi) || std::floor(d) != d)
      throw Napi::RangeError::New(env, std::string("measureReadBandwidth: ") + what + " must be an integer in " + std::to_string((int64_t)lo) +
                                           ".." + std::to_string((int64_t)hi));
    return d;
  };
  size_t bytes = (size_t)arg(0, 0, (double)(1u << 30), "bytes");
  int nth = threads_arg(env, info.Length() > 1 ? info[1] : env.Undefined(), "measureReadBandwidth");
  int reps = (int)arg(2, 1, 1000, "reps");
  return Napi::Number::New(env, measure_read_bandwidth(bytes, nth, reps));
}

// The table is generated from the op list, so it cannot lack an op; a null entry (a table built by
// hand with nullptr) still fails here, at load, rather than at the first step that needs it.
static void check_tables(Napi::Env env) {
  for (const DeviceBackend& d : device_backends()) {
    std::string what = std::string("kiln_native: backend ") + d.kernels.name + " has no ";
    for (int i = 0; i < kOpCount; i++)
      if (!backend_kernel(d.kernels, (Op)i)) throw Napi::Error::New(env, what + "kernel for " + op_info((Op)i).name);
    if (!d.kernels.matmul_scratch) throw Napi::Error::New(env, what + "matmul_scratch");
  }
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  check_tables(env);
  if (const std::string err = cpu_simd_env_error(); !err.empty()) throw Napi::Error::New(env, err);
  exports.Set("mapFile", Napi::Function::New(env, MapFile));
  exports.Set("Graph", GraphWrap::Init(env));
  exports.Set("runOp", Napi::Function::New(env, RunOp));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("sampleToken", Napi::Function::New(env, SampleToken));
  exports.Set("applyProcessors", Napi::Function::New(env, ApplyProcessors));
  exports.Set("tokenLogprobs", Napi::Function::New(env, TokenLogprobs));
  exports.Set("cpuInfo", Napi::Function::New(env, CpuInfo));
  exports.Set("measureReadBandwidth", Napi::Function::New(env, MeasureBandwidth));
  add_quant_exports(env, exports);
  add_profile_exports(env, exports);
  add_transpose_exports(env, exports);
  add_int4_exports(env, exports);
  return exports;
}

}  // namespace kiln

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return kiln::Init(env, exports); }
NODE_API_MODULE(kiln_native, InitAddon)
