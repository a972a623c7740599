#include "hilsim/kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

using hilsim::kernels::ThreadPool;

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (size_t n : {0u, 1u, 7u, 1000u}) {
      std::vector<std::atomic<int>> hits(n);
      for (int rep = 0; rep < 3; ++rep)
        pool.parallel_for(n, [&](size_t b, size_t e) {
          for (size_t i = b; i < e; ++i) hits[i]++;
        });
      for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 3) << "n=" << n << " i=" << i;
    }
  }
}

// The busiest worker's share of n equal items under parallel_for's chunks (~4 per thread, handed out
// in turn): one item is all of it, an even split is 1/threads, 5 items on 2 threads are 3 of 5.
TEST(ThreadPool, BusiestShareFollowsTheChunks) {
  EXPECT_DOUBLE_EQ(ThreadPool::busiest_share(1, 2), 1.0);
  EXPECT_DOUBLE_EQ(ThreadPool::busiest_share(7, 1), 1.0);
  EXPECT_DOUBLE_EQ(ThreadPool::busiest_share(2, 2), 0.5);
  EXPECT_DOUBLE_EQ(ThreadPool::busiest_share(5, 2), 0.6);
  EXPECT_DOUBLE_EQ(ThreadPool::busiest_share(10, 2), 0.6);  // chunks of 2: 5 chunks, 3 to one worker
  EXPECT_DOUBLE_EQ(ThreadPool::busiest_share(800, 2), 0.5);
  EXPECT_LE(ThreadPool::busiest_share(3, 4), 1.0 / 3 + 1e-12);
}
