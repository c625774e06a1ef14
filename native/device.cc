// Devices by name: the (device, kernel table) pairs this build has.
#include "device.h"

#include "cpu/cpu_device.h"

namespace kiln {

std::vector<DeviceBackend> device_backends() {
  return {{"cpu", cpu_backend(), make_cpu_device}, {"cpu", ref_backend(), make_cpu_device}};
}

std::unique_ptr<Device> make_device(const std::string& device, const std::string& backend) {
  std::string known;
  bool device_known = false;
  for (const DeviceBackend& d : device_backends()) {
    if (device != d.device) continue;
    device_known = true;
    if (backend == d.kernels.name) return d.make(d.kernels);
    known += (known.empty() ? "" : ", ") + std::string(d.kernels.name);
  }
  if (!device_known) throw GraphError("unknown device \"" + device + "\" (cpu)");
  throw GraphError("unknown backend \"" + backend + "\" (" + known + ")");
}

}  // namespace kiln
