// The buffers forward steps write their output rows (logits, hidden states) into, recycled.
//
// A step used to write into a fresh zero-filled vector, then copy it into a fresh zero-filled
// Float32Array: for a 32000-token vocabulary two 128 KB buffers whose pages are touched for the
// first time on every decode step. On the virtual machines this runs on, first touches go through
// the hypervisor (perf: the time sits in page faults and in memset/memcpy over new pages), and the
// two cost 250-600 µs of a 3 ms decode step. Now a step writes into a buffer given back after its
// copy-out, so the next step of the same size takes the same, resident, pages; and the scheduler
// passes its own reused output array (GraphWrap's runAsync `out`), so the copy lands in resident
// pages too.
#pragma once
#include <cstddef>

namespace kiln {

class StepOutputs {
 public:
  // A buffer of `floats` floats (contents unspecified): an idle one of that size when there is
  // one, else a new one; nullptr for 0. Throws std::bad_alloc when memory runs out.
  static float* take(size_t floats);
  // Back to the idle buffers (freed instead past their cap); null is ignored.
  static void give(float* buf, size_t floats);
};

}  // namespace kiln
