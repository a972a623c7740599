#include "hilsim/kernels/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <memory>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace hilsim::kernels {

namespace {
// Spin this long for the next job / the last worker before sleeping on the condition variable: a
// futex wake costs tens of microseconds, as much as a whole small conv layer (measured: 2 threads were
// no faster than 1 on 0.1 ms layers). The flags are read through atomic_ref so the header keeps its
// plain members; every write to them happens under mu_ and through atomic_ref as well.
constexpr auto kSpin = std::chrono::microseconds(50);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

template <class Pred>
void spin_until(Pred done) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1; !done(); ++i) {
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() - t0 > kSpin) return;
  }
}
}  // namespace

ThreadPool::ThreadPool(int threads, std::vector<int> cpus) : threads_(std::max(1, threads)), cpus_(std::move(cpus)) {
  if (!cpus_.empty()) pin_current_thread(cpus_[0]);
  for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    std::atomic_ref<bool>(stop_).store(true);
  }
  cv_start_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::pin_current_thread(int cpu) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
#else
  (void)cpu;
  return false;
#endif
}

int ThreadPool::hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

void ThreadPool::worker(int index) {
  if (!cpus_.empty()) pin_current_thread(cpus_[index % cpus_.size()]);
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(size_t, size_t)>* job;
    size_t n, chunk;
    spin_until([&] {
      return std::atomic_ref<uint64_t>(generation_).load(std::memory_order_acquire) != seen ||
             std::atomic_ref<bool>(stop_).load(std::memory_order_relaxed);
    });
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_start_.wait(lk, [&] { return std::atomic_ref<bool>(stop_).load() || std::atomic_ref<uint64_t>(generation_).load() != seen; });
      if (std::atomic_ref<bool>(stop_).load()) return;
      seen = std::atomic_ref<uint64_t>(generation_).load();
      job = job_;
      n = n_;
      chunk = chunk_;
    }
    for (size_t b; (b = next_.fetch_add(chunk)) < n;) (*job)(b, std::min(n, b + chunk));
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (std::atomic_ref<int>(active_).fetch_sub(1, std::memory_order_acq_rel) == 1) cv_done_.notify_one();
    }
  }
}

namespace {
size_t chunk_of(size_t n, size_t threads, size_t grain) { return std::max(grain, (n + 4 * threads - 1) / (4 * threads)); }
}  // namespace

double ThreadPool::busiest_share(int64_t n, int threads) {
  if (n <= 1 || threads <= 1) return 1.0;
  const size_t items = static_cast<size_t>(n), t = static_cast<size_t>(threads);
  const size_t chunk = chunk_of(items, t, 1), chunks = (items + chunk - 1) / chunk;
  // Chunks go to whichever worker is free: with equal items, round-robin; the busiest takes the first.
  const size_t busiest = std::min(items, ((chunks + t - 1) / t) * chunk);
  return static_cast<double>(busiest) / static_cast<double>(items);
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t grain) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  if (threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // ~4 chunks per thread: enough slack to balance uneven rows without much atomic traffic.
  size_t chunk = chunk_of(n, static_cast<size_t>(threads_), grain);
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    n_ = n;
    chunk_ = chunk;
    next_.store(0);
    std::atomic_ref<int>(active_).store(threads_ - 1);
    std::atomic_ref<uint64_t>(generation_).fetch_add(1, std::memory_order_release);
  }
  cv_start_.notify_all();
  for (size_t b; (b = next_.fetch_add(chunk)) < n;) fn(b, std::min(n, b + chunk));
  spin_until([&] { return std::atomic_ref<int>(active_).load(std::memory_order_acquire) == 0; });
  std::unique_lock<std::mutex> lk(mu_);
  cv_done_.wait(lk, [&] { return std::atomic_ref<int>(active_).load() == 0; });
  job_ = nullptr;
}

namespace {
std::unique_ptr<ThreadPool>& pool_slot() {
  static std::unique_ptr<ThreadPool> p = std::make_unique<ThreadPool>(1);
  return p;
}
}  // namespace

ThreadPool& default_pool() { return *pool_slot(); }

void set_default_threads(int threads) {
  if (pool_slot()->threads() != threads) pool_slot() = std::make_unique<ThreadPool>(threads);
}

}  // namespace hilsim::kernels
