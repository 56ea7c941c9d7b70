// What a hand-over between two threads costs in CPU, not only in latency: two threads pass a
// token back and forth through a mutex and a condition variable, 40,000 hand-overs, and the
// process's user and system CPU time is divided among them. Run it on both cores and pinned to
// one (the simulator charges a wake-up, `wake_seconds`, as a delay that holds no core).
//
//   g++ -std=c++20 -O2 -pthread experiments/simulated/handover_cpu.cpp -o /tmp/handover_cpu &&
//   /tmp/handover_cpu && taskset -c 0 /tmp/handover_cpu
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

namespace {
double seconds(timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; }
}  // namespace

int main() {
  constexpr int rounds = 20000;
  std::mutex m;
  std::condition_variable changed;
  int turn = 0;
  auto pass = [&](int me) {
    for (int i = 0; i < rounds; ++i) {
      std::unique_lock lock(m);
      changed.wait(lock, [&] { return turn == me; });
      turn = 1 - me;
      changed.notify_all();
    }
  };
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  const auto t0 = std::chrono::steady_clock::now();
  std::thread a(pass, 0), b(pass, 1);
  a.join();
  b.join();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  getrusage(RUSAGE_SELF, &after);
  const double n = 2.0 * rounds;
  std::printf("%d hand-overs: %.1f us of wall time each, CPU %.1f us user + %.1f us system each\n", 2 * rounds,
              wall / n * 1e6, (seconds(after.ru_utime) - seconds(before.ru_utime)) / n * 1e6,
              (seconds(after.ru_stime) - seconds(before.ru_stime)) / n * 1e6);
}
