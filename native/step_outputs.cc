#include "step_outputs.h"

#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace kiln {
namespace {

// Idle bytes kept at most: a decode loop needs one buffer of its size (more while several graphs
// run steps at once); prefill and encoder batches are bigger and rarer.
constexpr size_t kIdleCapBytes = 64u << 20;

struct Idle {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<float*>> by_size;  // floats -> idle buffers
  size_t bytes = 0;
};

Idle& idle() {
  static Idle* p = new Idle();  // never destroyed: a step may finish during static teardown
  return *p;
}

size_t rounded_bytes(size_t floats) { return (floats * sizeof(float) + 63) & ~(size_t)63; }

}  // namespace

float* StepOutputs::take(size_t floats) {
  if (floats == 0) return nullptr;
  {
    Idle& s = idle();
    std::lock_guard<std::mutex> lk(s.mu);
    auto it = s.by_size.find(floats);
    if (it != s.by_size.end() && !it->second.empty()) {
      float* b = it->second.back();
      it->second.pop_back();
      s.bytes -= rounded_bytes(floats);
      return b;
    }
  }
  void* p = std::aligned_alloc(64, rounded_bytes(floats));
  if (!p) throw std::bad_alloc();
  return (float*)p;
}

void StepOutputs::give(float* buf, size_t floats) {
  if (!buf) return;
  const size_t bytes = rounded_bytes(floats);
  {
    Idle& s = idle();
    std::lock_guard<std::mutex> lk(s.mu);
    if (s.bytes + bytes <= kIdleCapBytes) {
      s.by_size[floats].push_back(buf);
      s.bytes += bytes;
      return;
    }
  }
  std::free(buf);
}

}  // namespace kiln
