// The CPU device: weights read in place from the mapping or JS buffers, buffers from calloc, and
// steps run ggml style — all nth threads walk the node list together, each kernel splits its own
// work by (ith, nth), and a spinning barrier separates nodes. One dispatch per step, not per op.
#include "cpu/cpu_device.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cpu/op_profile.h"
#include "exec.h"
#include "threadpool.h"

namespace kiln {

namespace {

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using CBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

CBuffer aligned_or_throw(size_t bytes) {
  void* p = std::aligned_alloc(64, cache_lines(bytes ? bytes : 1));
  if (!p) throw GraphError("out of memory allocating " + std::to_string(bytes >> 20) + " MiB of kernel scratch");
  return CBuffer((uint8_t*)p);
}

class CpuDevice final : public Device {
 public:
  explicit CpuDevice(const Backend& kernels) : kernels_(kernels) {}

  const char* name() const override { return "cpu"; }
  const Backend& kernels() const override { return kernels_; }
  void* place(const Tensor& host) override { return host.data; }

  // calloc: large blocks come from fresh zero pages, so a KV cache sized for a long context or a
  // logits buffer sized for a long chunk costs resident memory only once it is used.
  void* alloc(size_t bytes) override {
    void* p = std::calloc(bytes ? bytes : 1, 1);
    if (!p) throw GraphError("out of memory allocating " + std::to_string(bytes >> 20) + " MiB of activations/KV cache");
    CBuffer b((uint8_t*)p);  // freed even if the list cannot grow
    buffers_.push_back(std::move(b));
    return p;
  }

  // Grows only: a step on fewer threads reuses what a wider one allocated.
  void reserve_scratch(const ScratchPlan& plan, int nth) override {
    own_stride_ = plan.kernel.own;
    if (plan.kernel.shared > shared_bytes_) {
      shared_ = aligned_or_throw(plan.kernel.shared);
      shared_bytes_ = plan.kernel.shared;
    }
    if (plan.kernel.own * (size_t)nth > own_bytes_) {
      own_ = aligned_or_throw(plan.kernel.own * (size_t)nth);
      own_bytes_ = plan.kernel.own * (size_t)nth;
    }
    size_t att = (size_t)plan.attention_floats * (size_t)nth * sizeof(float);
    if (att > attention_bytes_) {
      attention_ = aligned_or_throw(att);
      std::memset(attention_.get(), 0, att);
      attention_bytes_ = att;
    }
    if (nth > threads_) threads_ = nth;
  }

  // A tensor with no elements may have no storage, and an empty Float32Array's Data() is null:
  // memcpy with a null pointer is undefined even for 0 bytes (UBSan reports it), so 0 bytes copy nothing.
  void write(void* device_dst, const void* host_src, size_t bytes) override {
    if (bytes) std::memcpy(device_dst, host_src, bytes);
  }
  void read(void* host_dst, const void* device_src, size_t bytes) override {
    if (bytes) std::memcpy(host_dst, device_src, bytes);
  }

  void run(const std::vector<Node>& nodes, const std::vector<Tensor>& tensors, int nth) override {
    if (nth < 1 || nth > threads_)
      throw GraphError("cpu device: scratch is reserved for " + std::to_string(threads_) + " threads, not " + std::to_string(nth));
    ThreadPool& pool = ThreadPool::global();
    const Backend& be = kernels_;
    float* attention = (float*)attention_.get();
    // KILN_PROFILE=1: thread 0 times each node up to the end of the barrier after it (op_profile.h).
    const bool profile = op_profile_enabled();
    uint64_t ns[kOpCount] = {}, count[kOpCount] = {};
    pool.run(nth, [&](int ith) {
      const Scratch scratch{shared_.get(), own_.get() + (size_t)ith * own_stride_};
      const bool timed = profile && ith == 0;
      for (const Node& nd : nodes) {
        const auto t0 = timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
        exec_node(be, nd, tensors, scratch, attention, ith, nth);
        pool.barrier();
        if (timed) {
          ns[(int)nd.op] += (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
          count[(int)nd.op]++;
        }
      }
    });
    if (profile) {  // decode: one row per matmul
      bool decode = true;
      for (const Node& nd : nodes)
        if (nd.op == Op::MATMUL && tensors[nd.output].cur_rows > 1) decode = false;
      op_profile_add(decode, ns, count);
    }
  }

 private:
  const Backend& kernels_;
  std::vector<CBuffer> buffers_;  // activations and KV caches
  CBuffer shared_, own_, attention_;
  size_t shared_bytes_ = 0, own_bytes_ = 0, attention_bytes_ = 0, own_stride_ = 0;
  int threads_ = 0;
};

}  // namespace

std::unique_ptr<Device> make_cpu_device(const Backend& kernels) { return std::make_unique<CpuDevice>(kernels); }

}  // namespace kiln
