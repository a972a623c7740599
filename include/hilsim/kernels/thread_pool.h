// The one thread pool of hilsim. A pool is a fixed set of workers (optionally pinned to cores); the
// runtime gives each execution unit (e.g. `cpu0`, `cpu1`) its own pool so units really run apart.
// parallel_for splits [0, n) into contiguous chunks; the calling thread takes part, so a pool of
// 1 thread runs everything inline with no synchronisation at all.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hilsim::kernels {

class ThreadPool {
 public:
  // threads >= 1; `cpus` (optional) pins thread i (caller included, as thread 0) to cpus[i % size].
  explicit ThreadPool(int threads = 1, std::vector<int> cpus = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  const std::vector<int>& cpus() const { return cpus_; }

  // Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at least `grain` long.
  // Work is handed out dynamically in chunks, so uneven items balance.
  void parallel_for(size_t n, const std::function<void(size_t, size_t)>& fn, size_t grain = 1);
  // The share of n equal items that the busiest of `threads` workers runs under parallel_for's chunks
  // (1/threads when they divide evenly, 1 for a single item): a cost model's critical path.
  static double busiest_share(int64_t n, int threads);

  // Pins the calling thread to one core; false if the OS refused (e.g. the core does not exist).
  static bool pin_current_thread(int cpu);
  static int hardware_threads();

 private:
  void worker(int index);

  int threads_;
  std::vector<int> cpus_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(size_t, size_t)>* job_ = nullptr;
  size_t n_ = 0;
  size_t chunk_ = 1;
  std::atomic<size_t> next_{0};
  int active_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

// A process-wide default pool, resized on request (used by the CLI's --threads).
ThreadPool& default_pool();
void set_default_threads(int threads);

}  // namespace hilsim::kernels
