// A persistent pool: run(nth, fn) executes fn(ith) on nth threads and returns when all are done.
// Inside fn, barrier() synchronises the nth threads between graph nodes, ggml style, so a whole
// forward step is one dispatch instead of one per op.
// With nth > 1 every ith runs on the pool's own threads and the caller sleeps until they finish.
// The caller is usually one of libuv's worker threads, a different one from step to step; as thread 0
// it made the scheduler place each step's new thread 0 beside the spinning thread 1 on one core
// (measured on 2 cores: Q4_0 decode at 2 threads 193 tokens/s, slower than 1 thread's 236; with the
// same thread 0 every step, 277). The pool's threads stay put from step to step.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln {

class ThreadPool {
 public:
  static ThreadPool& global();
  ~ThreadPool();
  void run(int nth, const std::function<void(int)>& fn);
  void barrier();  // only valid inside run(); all nth threads must call it
  int hardware_threads() const;
  // The most threads a caller may ask run() for: 4 per hardware thread, at least 1024. The pool
  // starts every thread asked for before any work, so an absurd count (2^31) is refused at the
  // binding instead of starting threads until the OS refuses one.
  int max_threads() const { return std::max(1024, 4 * hardware_threads()); }

 private:
  ThreadPool() = default;
  void ensure_workers(int n);
  void worker_loop(int ith, uint64_t seen);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::mutex run_mu_;  // one run at a time
  const std::function<void(int)>* job_ = nullptr;
  int job_nth_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::atomic<int> barrier_count_{0};
  std::atomic<uint64_t> barrier_phase_{0};
  bool stop_ = false;
};

}  // namespace kiln
