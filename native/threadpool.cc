// Spin briefly, then sleep: decode steps come back to back (spinning keeps latency low) but an idle
// process must not burn a core.
#include "threadpool.h"

#include <sched.h>

#include <chrono>

namespace kiln {

static inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

ThreadPool& ThreadPool::global() {
  static ThreadPool* pool = new ThreadPool();  // never destroyed: workers may outlive static teardown
  return *pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

int ThreadPool::hardware_threads() const {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : (int)n;
}

void ThreadPool::ensure_workers(int n) {
  while ((int)workers_.size() < n) {
    int ith = (int)workers_.size() + 1;
    // The worker must see the generation as it is now, or it could miss the job about to be posted.
    uint64_t seen = generation_.load(std::memory_order_acquire);
    workers_.emplace_back([this, ith, seen] { worker_loop(ith, seen); });
  }
}

void ThreadPool::worker_loop(int ith, uint64_t seen) {
  for (;;) {
    // Spin for a short while for the next job, then block.
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      if (++spins < 20000) {
        cpu_relax();
      } else {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        break;
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_) return;
    const std::function<void(int)>* job = job_;
    if (job && ith < job_nth_) {
      (*job)(ith);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::run(int nth, const std::function<void(int)>& fn) {
  if (nth <= 1) {
    std::lock_guard<std::mutex> run_lk(run_mu_);
    job_nth_ = 1;
    barrier_count_.store(0);
    fn(0);
    return;
  }
  std::lock_guard<std::mutex> run_lk(run_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    ensure_workers(nth - 1);
    job_ = &fn;
    job_nth_ = nth;
    barrier_count_.store(0);
    pending_.store(nth - 1, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  fn(0);
  // fn(0) returns after the step's last barrier, so the workers are only a decrement away; a long
  // wait here means one of them lost its core (more threads than cores), and then yielding at once
  // gives the core back instead of spinning for milliseconds against it.
  int spins = 0;
  while (pending_.load(std::memory_order_acquire) != 0) {
    if (++spins < 4096) cpu_relax();
    else std::this_thread::yield();
  }
  job_ = nullptr;
}

void ThreadPool::barrier() {
  int n = job_nth_;
  if (n <= 1) return;
  uint64_t phase = barrier_phase_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_phase_.fetch_add(1, std::memory_order_acq_rel);
  } else {
    int spins = 0;
    while (barrier_phase_.load(std::memory_order_acquire) == phase) {
      if (++spins < 4096) cpu_relax();
      else sched_yield();
    }
  }
}

}  // namespace kiln
