#pragma once
// The definitions of <asgd/sim/calibrate.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/streaming.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/sim/calibrate.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace asgd::inline v0::sim {

namespace calibration {
// The median of `repeats` runs of `once()`, each returning seconds.
template <class F>
double median_seconds(std::size_t repeats, F&& once) {
  std::vector<double> t(repeats);
  for (auto& x : t) x = once();
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A turn two threads hand back and forth. A waiter spins, yielding when it waits long, so that
// two threads on one core still finish.
struct turns {
  std::atomic<int> value{0};
  void give(int v) noexcept { value.store(v, std::memory_order_release); }
  void wait_for(int v) noexcept {
    for (int spins = 0; value.load(std::memory_order_acquire) != v; ++spins) {
      if (spins > 4096) std::this_thread::yield();
    }
  }
};

// A thread that exists until the object is destroyed, so that the process is multi-threaded.
class idle_thread {
 public:
  idle_thread()
      : thread_([this] {
          std::unique_lock lock(mutex_);
          done_cv_.wait(lock, [this] { return done_; });
        }) {}
  ~idle_thread() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_one();
    thread_.join();
  }
  idle_thread(const idle_thread&) = delete;
  idle_thread& operator=(const idle_thread&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};
}  // namespace calibration

ASGD_DECL cost_model calibrate_machine(const calibration_settings& s) {
  if (s.model_floats == 0 || s.repeats == 0) {
    throw std::invalid_argument("asgd: sim::calibrate_machine: model_floats and repeats must be at least 1");
  }
  using clock = std::chrono::steady_clock;
  using calibration::median_seconds;
  using calibration::seconds_since;
  cost_model m = cost_model::machine();
  const std::size_t n = s.model_floats;
  std::vector<float> a(n, 1.0f), b(n, 0.0f), g(n, 1e-3f);
  // Keeps the loops' results alive: compilers do not remove atomic stores.
  std::atomic<float> sink{0.0f};
  auto keep = [&sink](float v) { sink.store(sink.load(std::memory_order_relaxed) + v, std::memory_order_relaxed); };

  const double copy = median_seconds(s.repeats, [&] {
    const auto t0 = clock::now();
    std::copy(a.begin(), a.end(), b.begin());
    const double t = seconds_since(t0);
    keep(b[n / 2]);
    return t;
  });
  m.copy_bandwidth = static_cast<double>(n * sizeof(float)) / std::max(copy, 1e-12);

  const double update = median_seconds(s.repeats, [&] {
    const auto t0 = clock::now();
    for (std::size_t i = 0; i < n; ++i) a[i] -= 0.01f * g[i];
    const double t = seconds_since(t0);
    keep(a[n / 2]);
    return t;
  });
  m.update_bandwidth = static_cast<double>(n * 3 * sizeof(float)) / std::max(update, 1e-12);

  constexpr std::size_t ops = 1 << 20;
  std::atomic<std::uint64_t> counter{0};
  m.atomic_seconds = median_seconds(s.repeats, [&] {
                       const auto t0 = clock::now();
                       for (std::size_t i = 0; i < ops; ++i) counter.fetch_add(1, std::memory_order_acq_rel);
                       return seconds_since(t0);
                     }) /
                     static_cast<double>(ops);

  {
    const calibration::idle_thread alive;  // as in a run (glibc's own locks skip atomics without one)
    asgd::detail::word_lock lock;  // the lock of detail::mutex, which the stores and transports take
    std::uint64_t guarded = 0;
    m.lock_seconds = median_seconds(s.repeats, [&] {
                       const auto t0 = clock::now();
                       for (std::size_t i = 0; i < ops; ++i) {
                         lock.lock();
                         ++guarded;
                         lock.unlock();
                       }
                       return seconds_since(t0);
                     }) /
                     static_cast<double>(ops);
    keep(static_cast<float>(guarded & 1));
  }

  // Ping-pong on one line: each round trip is two hand-overs. A side that waits long yields, so
  // that two threads on one core still finish.
  constexpr std::uint64_t rounds = 20000;
  m.line_handover_seconds = median_seconds(s.repeats, [&] {
                              alignas(64) std::atomic<std::uint64_t> ball{0};
                              auto wait_for = [&](std::uint64_t v) {
                                for (int spins = 0; ball.load(std::memory_order_acquire) != v; ++spins) {
                                  if (spins > 4096) std::this_thread::yield();
                                }
                              };
                              std::thread other([&] {
                                for (std::uint64_t r = 0; r < rounds; ++r) {
                                  wait_for(2 * r + 1);
                                  ball.store(2 * r + 2, std::memory_order_release);
                                }
                              });
                              const auto t0 = clock::now();
                              for (std::uint64_t r = 0; r < rounds; ++r) {
                                ball.store(2 * r + 1, std::memory_order_release);
                                wait_for(2 * r + 2);
                              }
                              const double t = seconds_since(t0);
                              other.join();
                              return t;
                            }) /
                            static_cast<double>(2 * rounds);

  // A copy of a model that another core has just written: the other thread rewrites `a`, then
  // this one copies it (its lines come from the other core's cache).
  {
    calibration::turns turn;
    std::thread other([&] {
      for (std::size_t r = 0; r < s.repeats; ++r) {
        turn.wait_for(1);
        for (std::size_t i = 0; i < n; ++i) a[i] = a[i] * 0.5f + 1.0f;
        turn.give(2);
      }
    });
    const double shared_copy = median_seconds(s.repeats, [&] {
      turn.give(1);
      turn.wait_for(2);
      const auto t0 = clock::now();
      std::copy(a.begin(), a.end(), b.begin());
      const double t = seconds_since(t0);
      keep(b[n / 2]);
      return t;
    });
    other.join();
    m.shared_copy_bandwidth = static_cast<double>(n * sizeof(float)) / std::max(shared_copy, 1e-12);
  }

  // Writing a model that another core has just read: this thread rewrites `a` (its lines are
  // then this core's alone), the other copies it out (now they are in both caches), and this
  // thread rewrites it again, timed, against the same pass when the other did not read. What
  // the first costs more is the lines taken back from the other core, as the bandwidth of the
  // model's bytes.
  {
    calibration::turns turn;
    std::vector<float> theirs(n);
    std::thread other([&] {
      for (std::size_t r = 0; r < s.repeats; ++r) {
        turn.wait_for(1);
        std::copy(a.begin(), a.end(), theirs.begin());
        turn.give(2);
      }
    });
    auto rewrite = [&] {
      const auto t0 = clock::now();
      for (std::size_t i = 0; i < n; ++i) a[i] = a[i] * 0.5f + 1.0f;
      return seconds_since(t0);
    };
    const double after_read = median_seconds(s.repeats, [&] {
      (void)rewrite();
      turn.give(1);
      turn.wait_for(2);
      return rewrite();
    });
    other.join();
    keep(theirs[n / 2]);
    const double alone = median_seconds(s.repeats, [&] {
      (void)rewrite();
      return rewrite();
    });
    keep(a[n / 2]);
    // At least 1% of the pass: a machine where reading costs the writer nothing gives a high
    // bandwidth, not a division by noise.
    const double extra = std::max(after_read - alone, 0.01 * alone);
    m.shared_write_bandwidth = static_cast<double>(n * sizeof(float)) / std::max(extra, 1e-12);
  }

  // Streaming stores (detail::stream_fill), where this build has them: this thread streams `a`
  // out, computed from a private array in its cache, after the other thread read `a` (as a
  // worker streams a version or slice that the other read last); then the other streams it and
  // this thread copies it (its lines come from memory). Without them both stay 0: streamed
  // writes are charged as plain ones, as such a build writes them.
  if constexpr (detail::streaming_stores) {
    calibration::turns turn;
    std::vector<float> theirs(n), source(n, 0.75f);
    std::thread other([&] {
      for (std::size_t r = 0; r < 2 * s.repeats; ++r) {
        turn.wait_for(1);
        if (r < s.repeats) {
          std::copy(a.begin(), a.end(), theirs.begin());
        } else {
          detail::stream_fill(a.data(), 0, n, [&](float* out, std::size_t lo, std::size_t hi) {
            for (std::size_t i = lo; i < hi; ++i) out[i - lo] = theirs[i] * 0.5f + 1.0f;
          });
        }
        turn.give(2);
      }
    });
    const double streamed_out = median_seconds(s.repeats, [&] {
      turn.give(1);
      turn.wait_for(2);
      const auto t0 = clock::now();
      detail::stream_fill(a.data(), 0, n, [&](float* out, std::size_t lo, std::size_t hi) {
        for (std::size_t i = lo; i < hi; ++i) out[i - lo] = source[i] * 0.5f + 1.0f;
      });
      return seconds_since(t0);
    });
    const double streamed_in = median_seconds(s.repeats, [&] {
      turn.give(1);
      turn.wait_for(2);
      const auto t0 = clock::now();
      std::copy(a.begin(), a.end(), b.begin());
      const double t = seconds_since(t0);
      keep(b[n / 2]);
      return t;
    });
    other.join();
    keep(theirs[n / 2]);
    m.stream_write_bandwidth = static_cast<double>(n * sizeof(float)) / std::max(streamed_out, 1e-12);
    m.stream_read_bandwidth = static_cast<double>(n * sizeof(float)) / std::max(streamed_in, 1e-12);
  }

  // A wake-up: two threads hand a turn back and forth through a condition variable, each waiting
  // asleep for it; a round trip is two wake-ups. The process's CPU time over the same hand-overs
  // (std::clock: all its threads, user and system) is the part of a wake-up that is the OS's work.
  constexpr std::uint64_t handoffs = 200;
  std::vector<double> wake_cpu;
  m.wake_seconds = median_seconds(s.repeats, [&] {
                     std::mutex mutex;
                     std::condition_variable turned;
                     std::uint64_t turn = 0;
                     std::thread other([&] {
                       for (std::uint64_t r = 0; r < handoffs; ++r) {
                         std::unique_lock lock(mutex);
                         turned.wait(lock, [&] { return turn == 2 * r + 1; });
                         turn = 2 * r + 2;
                         turned.notify_one();
                       }
                     });
                     const auto t0 = clock::now();
                     const std::clock_t c0 = std::clock();
                     for (std::uint64_t r = 0; r < handoffs; ++r) {
                       std::unique_lock lock(mutex);
                       turn = 2 * r + 1;
                       turned.notify_one();
                       turned.wait(lock, [&] { return turn == 2 * r + 2; });
                     }
                     const double t = seconds_since(t0);
                     wake_cpu.push_back(static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
                     other.join();
                     return t;
                   }) /
                   static_cast<double>(2 * handoffs);
  std::sort(wake_cpu.begin(), wake_cpu.end());
  m.wake_cpu_seconds =
      std::min(m.wake_seconds, std::max(0.0, wake_cpu[wake_cpu.size() / 2]) / static_cast<double>(2 * handoffs));

  // What a short sleep (100 us, a link delay's size) lasts beyond what it asked for.
  constexpr int sleeps = 20;
  constexpr double asked = 1e-4;
  m.sleep_overshoot_seconds = median_seconds(s.repeats, [&] {
    double over = 0.0;
    for (int k = 0; k < sleeps; ++k) {
      const auto t0 = clock::now();
      std::this_thread::sleep_for(std::chrono::duration<double>(asked));
      over += seconds_since(t0) - asked;
    }
    return std::max(0.0, over / sleeps);
  });
  m.validate();
  return m;
}

ASGD_DECL duration pooled(std::span<const duration> each) {
  if (each.empty()) throw std::invalid_argument("asgd: sim::pooled: no durations to pool");
  double mu = 0.0;
  for (const duration& d : each) mu += std::log(d.median);
  mu /= static_cast<double>(each.size());
  double var = 0.0;
  for (const duration& d : each) var += d.sigma * d.sigma + (std::log(d.median) - mu) * (std::log(d.median) - mu);
  return {std::exp(mu), std::sqrt(var / static_cast<double>(each.size()))};
}

ASGD_DECL std::vector<int> usable_cpus() {
  std::vector<int> cpus;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
#endif
  if (cpus.empty()) cpus.push_back(-1);
  return cpus;
}

ASGD_DECL bool pin_to_cpu(int cpu) {
  if (cpu < 0) return true;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
#else
  return false;
#endif
}

}  // namespace asgd::inline v0::sim
