// Spin briefly, then sleep: decode steps come back to back (spinning keeps latency low) but an idle
// process must not burn a core.
#include "threadpool.h"

#include <sched.h>

#include <chrono>

namespace kiln {

constexpr int kSpinBeforeYield = 2000;  // pauses (25 ns each on Zen 3, ~40 on recent Intel)
constexpr std::chrono::microseconds kActiveWait{2000};  // then sched_yield until this long after a job

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

// Workers are ith 0, 1, ...: thread k runs part k of every job of more than k threads.
void ThreadPool::ensure_workers(int n) {
  while ((int)workers_.size() < n) {
    int ith = (int)workers_.size();
    // The worker must see the generation as it is now, or it could miss the job about to be posted.
    uint64_t seen = generation_.load(std::memory_order_acquire);
    workers_.emplace_back([this, ith, seen] { worker_loop(ith, seen); });
  }
}

void ThreadPool::worker_loop(int ith, uint64_t seen) {
  for (;;) {
    // Wait for the next job: pause-spin briefly, then yield the core until kActiveWait has passed,
    // then block. Decode steps come back to back, but between two of them the JavaScript thread
    // samples the token and a libuv thread posts the next step: a worker spinning with pauses
    // takes the core they need (2 vCPUs, 2 workers), and a worker asleep leaves its CPU idle,
    // which a virtual machine may halt: waking it then costs a VM exit (measured on a Firecracker
    // guest with haltpoll off: a trivial 2-thread job posted 300 µs after the last one started in
    // ~450 µs with sleeping workers, ~95 µs with yielding ones). Yielding keeps the CPU awake and
    // gives it to any thread that wants it.
    int spins = 0;
    const auto active_until = std::chrono::steady_clock::now() + kActiveWait;
    while (generation_.load(std::memory_order_acquire) == seen) {
      if (++spins < kSpinBeforeYield) {
        cpu_relax();
      } else if ((spins & 15) != 0 || std::chrono::steady_clock::now() < active_until) {
        sched_yield();
      } else {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        break;
      }
    }
    // The generation, the job and its thread count, read together under mu_, under which run()
    // writes all three. Read one by one, a worker that sat out a job (ith ≥ its threads) could
    // wake late, read the NEXT job's pointer and count while that job was being posted, run its
    // part under the old generation, and run it again when the generation moved: the caller then
    // woke before the job was done and freed buffers a worker still wrote (npm run test:arm64
    // caught it under qemu: zeros in outputs, malloc's "unaligned tcache chunk").
    const std::function<void(int)>* job;
    int nth;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stop_) return;
      seen = generation_.load(std::memory_order_relaxed);
      job = job_;
      nth = job_nth_;
    }
    if (job && ith < nth) {
      (*job)(ith);
      // The last one out wakes the caller.
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(done_mu_);
        done_ = true;
        done_cv_.notify_one();
      }
    }
  }
}

void ThreadPool::run(int nth, const std::function<void(int)>& fn) {
  if (nth <= 1) {
    std::lock_guard<std::mutex> run_lk(run_mu_);
    {
      std::lock_guard<std::mutex> lk(mu_);  // job_nth_ is read by workers under mu_
      job_nth_ = 1;
    }
    barrier_count_.store(0);
    fn(0);
    return;
  }
  std::lock_guard<std::mutex> run_lk(run_mu_);
  {
    std::lock_guard<std::mutex> lk(mu_);
    ensure_workers(nth);
    job_ = &fn;
    job_nth_ = nth;
    barrier_count_.store(0);
    pending_.store(nth, std::memory_order_release);
    {
      std::lock_guard<std::mutex> dl(done_mu_);
      done_ = false;
    }
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  // Asleep, not spinning: a spinning caller would take a core from the threads doing the work.
  {
    std::unique_lock<std::mutex> dl(done_mu_);
    done_cv_.wait(dl, [&] { return done_; });
  }
  std::lock_guard<std::mutex> lk(mu_);
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
