#include "cpu/op_profile.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace kiln {

namespace {
std::mutex mu;
OpProfile tables[2];  // [0] decode, [1] prefill
}  // namespace

bool op_profile_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("KILN_PROFILE");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

void op_profile_add(bool decode, const uint64_t* ns, const uint64_t* nodes) {
  std::lock_guard<std::mutex> lock(mu);
  OpProfile& t = tables[decode ? 0 : 1];
  for (int i = 0; i < kOpCount; i++) {
    t.ns[i] += ns[i];
    t.nodes[i] += nodes[i];
  }
  t.steps++;
}

void op_profile_take(OpProfile* decode, OpProfile* prefill) {
  std::lock_guard<std::mutex> lock(mu);
  *decode = tables[0];
  *prefill = tables[1];
  tables[0] = OpProfile{};
  tables[1] = OpProfile{};
}

}  // namespace kiln
