#pragma once
// settings.compute_slowdown in a real run: a worker that stands for a machine F times slower.
// After its gradient it sleeps (F - 1) times the CPU time the gradient took (the gradient alone, as
// a simulated run charges it: the read's copy is the store's, not the problem's). CPU time, not wall
// time: on a machine with fewer cores than workers and nodes, the wall time of a step includes the
// time the thread waited for a core, and a straggler that multiplied that would slow down by far
// more than F (4 nodes on 2 cores: about 2F). A sleep overshoots (90-120 us on a busy VM); what it
// overslept is owed back by the next sleeps, so the run's total matches F on average.

#include <chrono>
#include <ctime>
#include <thread>

namespace asgd::inline v0::detail {

/// The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), or steady_clock's time where the
/// platform has no per-thread CPU clock.
[[nodiscard]] inline std::chrono::nanoseconds thread_cpu_now() noexcept {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) {
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
#endif
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

/// How long a straggler sleeps after work of `cpu` CPU time at slowdown `factor`, given what
/// its earlier sleeps overslept (`owed_back`, negative when they slept too little); `owed_back`
/// is left as what remains owed after this sleep's share (the caller adds this sleep's own
/// overshoot once it has slept).
[[nodiscard]] inline std::chrono::nanoseconds straggler_sleep(std::chrono::nanoseconds cpu, double factor,
                                                              std::chrono::nanoseconds& owed_back) noexcept {
  const auto due = std::chrono::duration_cast<std::chrono::nanoseconds>(cpu * (factor - 1.0)) - owed_back;
  if (due <= std::chrono::nanoseconds::zero()) {
    owed_back = -due;  // still overslept: this step sleeps not at all
    return std::chrono::nanoseconds::zero();
  }
  owed_back = std::chrono::nanoseconds::zero();
  return due;
}

/// One worker's straggler: start() before the gradient, wait() after it.
class straggler {
 public:
  void start() noexcept { cpu_start_ = thread_cpu_now(); }

  void wait(double factor) {
    const auto cpu = thread_cpu_now() - cpu_start_;
    const auto d = straggler_sleep(cpu, factor, owed_back_);
    if (d <= std::chrono::nanoseconds::zero()) return;
    const auto t0 = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(d);
    owed_back_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0) - d;
  }

 private:
  std::chrono::nanoseconds cpu_start_{0};
  std::chrono::nanoseconds owed_back_{0};
};

}  // namespace asgd::inline v0::detail
