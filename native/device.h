// The device boundary, at the level of the whole graph: what a graph needs from the hardware it
// runs on. Graph (graph.cc) checks shapes and plans buffers without knowing the device; the device
// holds the memory and runs the nodes.
//
// A CUDA device would implement this same interface: place() copies a weight to device memory,
// alloc()/reserve_scratch() use cudaMalloc, write()/read() are host<->device copies, and run()
// walks the nodes calling exec_node (exec.h) with its own kernel table, KILN_BACKEND(cuda) over
// `<op>_cuda` launchers that have the op's signature (kernels.h). The table comes from the same op
// list, so that device cannot lack an op either, and no model definition or runtime code changes.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"
#include "ops/ops.h"
#include "tensor.h"

namespace kiln {

// Graph and device errors (bad shapes, out of memory) become JS errors at the binding.
struct GraphError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Kernel scratch a graph's steps need, sized by the graph from the kernel table.
struct ScratchPlan {
  ScratchSize kernel;                // Scratch.shared once, Scratch.own for each thread (cache lines)
  int64_t attention_floats = 0;      // attention's scratch: this many floats for each thread
};

class Device {
 public:
  virtual ~Device() = default;
  // Where the tensors live: "cpu" (later "cuda").
  virtual const char* name() const = 0;
  // The kernels it runs ("cpu" or "ref" on the CPU); the graph sizes scratch with its entries.
  virtual const Backend& kernels() const = 0;
  // The device's pointer to a weight or constant given in host memory (a mapped file or a JS
  // buffer the caller keeps alive as long as the graph). The CPU reads it in place.
  virtual void* place(const Tensor& host) = 0;
  // Zeroed memory for a planned activation buffer or a KV cache, freed with the device.
  // Throws GraphError when out of memory.
  virtual void* alloc(size_t bytes) = 0;
  // Makes kernel scratch for steps on up to nth threads; called before every step, on the calling
  // thread (kernels never allocate). Throws GraphError when out of memory.
  virtual void reserve_scratch(const ScratchPlan& plan, int nth) = 0;
  // A step's inputs in (tokens, positions, slots, out_rows) and its output rows out.
  virtual void write(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual void read(void* host_dst, const void* device_src, size_t bytes) = 0;
  // Runs the node list once on nth threads; the tensors' data are this device's pointers, their
  // cur_rows this step's.
  virtual void run(const std::vector<Node>& nodes, const std::vector<Tensor>& tensors, int nth) = 0;
};

// A device by name, running the named kernel table: "cpu" with "cpu" (fast) or "ref" (reference).
std::unique_ptr<Device> make_device(const std::string& device, const std::string& backend);

// Every (device, kernel table) pair this build has, for listing and for the load-time check.
struct DeviceBackend {
  const char* device;
  const Backend& kernels;
  std::unique_ptr<Device> (*make)(const Backend& kernels);
};
std::vector<DeviceBackend> device_backends();

}  // namespace kiln
