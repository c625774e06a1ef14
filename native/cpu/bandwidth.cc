// Measures this machine's memory read bandwidth the way a decode step reads weights: every thread
// streams its share of a buffer much larger than the caches. Used for the roofline in the bench.
#include <chrono>
#include <memory>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace kiln {

double measure_read_bandwidth(size_t bytes, int nth, int reps) {
  size_t n = bytes / sizeof(float);
  std::unique_ptr<float[]> buf(new float[n]);
  for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 1023);
  std::vector<double> sinks(nth > 0 ? nth : 1);
  double best = 0;
  for (int r = 0; r < reps; r++) {
    auto t0 = std::chrono::steady_clock::now();
    ThreadPool::global().run(nth, [&](int ith) {
      int64_t s, e;
      split_range((int64_t)n, ith, nth, &s, &e);
      float acc[16] = {0};
      for (int64_t i = s; i + 16 <= e; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += buf[i + j];
      double t = 0;
      for (float a : acc) t += a;
      sinks[ith] = t;
    });
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double bw = (double)n * sizeof(float) / secs;
    if (bw > best) best = bw;
  }
  volatile double keep = sinks[0];
  (void)keep;
  return best;
}

}  // namespace kiln
