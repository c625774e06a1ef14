// The CPU device: host memory, and the persistent thread pool running a whole step at a time.
#pragma once
#include <memory>

#include "device.h"

namespace kiln {

// A CPU device running the kernels of `kernels` (cpu_backend() or ref_backend()).
std::unique_ptr<Device> make_cpu_device(const Backend& kernels);

}  // namespace kiln
