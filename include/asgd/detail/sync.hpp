#pragma once
// Internal: the waits of the stores and the trainer, each an OS primitive in a real run and a
// wait in virtual time when the calling thread is a simulated task (detail/simulation.hpp). A
// task that blocked on the OS primitive would stop a simulated run with its turn held.

#include <asgd/detail/event_log.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/detail/threads.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

namespace asgd::inline v0::detail {

/// A lock in one atomic word (0 free, 1 held, 2 held with waiters): an uncontended lock is one
/// CAS and its unlock one exchange, both inline; a waiter goes through C++20's atomic wait, which
/// in libstdc++ spins briefly before it sleeps on a futex. Against std::mutex (glibc's, which
/// sleeps at once and is called through the PLT), `locked`'s steps of an 8-float model took
/// 106 ns instead of 241 on two workers and 55 ns instead of 62 on one (bench_step); on the
/// MLP, whose critical sections are microseconds long, the two were equal.
class word_lock {
 public:
  void lock() noexcept {
    int seen = 0;
    if (!state_.compare_exchange_strong(seen, 1, std::memory_order_acquire)) [[unlikely]]
      lock_contended(seen);
  }
  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) [[unlikely]]
      state_.notify_one();
  }

 private:
  [[gnu::noinline]] void lock_contended(int seen) noexcept {
    // Whoever takes the lock from here marks it as waited for (2): its unlock then wakes one.
    if (seen != 2) seen = state_.exchange(2, std::memory_order_acquire);
    while (seen != 0) {
      state_.wait(2, std::memory_order_relaxed);
      seen = state_.exchange(2, std::memory_order_acquire);
    }
  }
  std::atomic<int> state_{0};
};

/// A word_lock; in a simulated run, a lock in virtual time (first come, first served), whose
/// taking costs the cost model's lock, and a hand-over when another task held it last. A
/// recording worker logs its turn (how many logged acquisitions came before it); a replaying
/// one waits for that turn before it asks for the lock.
class mutex {
 public:
  /// For a lock whose order of acquisition changes no value its holders compute (an in-process
  /// transport's hub, whose messages are keyed by sender and round, and whose condition waits
  /// take it again as often as they wake): a recording logs no turn of it, a replay waits for none.
  struct unordered_t {};
  static constexpr unordered_t unordered{};

  mutex() = default;
  explicit mutex(unordered_t) noexcept : ordered_(false) {}

  void lock() {
    event_log* const log = ordered_ ? logged() : nullptr;
    if (auto* s = simulated()) [[unlikely]] {
      lock_simulated(*s, log);
      return;
    }
    if (log == nullptr) [[likely]] {
      m_.lock();
      return;
    }
    lock_recorded(*log);
  }
  void unlock() {
    if (auto* s = simulated()) [[unlikely]] {
      s->release(this);
      return;
    }
    event_log* const log = ordered_ ? logged() : nullptr;
    if (log == nullptr) [[likely]] {
      m_.unlock();
      return;
    }
    unlock_recorded(*log);
  }

 private:
  // The paths of a simulated run and of a recording thread, out of line, so that a plain lock
  // and unlock stay small enough to inline.
  [[gnu::noinline, gnu::cold]] void lock_simulated(simulation_hooks& s, event_log* log) {
    const bool replaying = log != nullptr && log->replaying();
    if (replaying) {
      const std::uint64_t turn = log->next(replay_event::lock_turn).a;
      replay_wait(&turns_, [&] { return turns_ == turn; });
    }
    s.acquire(this);
    if (replaying) {
      ++turns_;
      replay_moved(&turns_);
    } else if (log != nullptr) {
      log->add(replay_event::lock_turn, turns_++);
    }
  }
  // A recording thread: its log keeps the turn's place (what it logs while it holds the lock
  // comes after it), and unlock() fills the turn in, so the others do not wait for the log.
  [[gnu::noinline]] void lock_recorded(event_log& log) {
    const std::size_t at = log.size();
    log.add(replay_event::lock_turn, 0);
    m_.lock();
    held_turn_ = turns_++;
    held_at_ = at;
  }
  [[gnu::noinline]] void unlock_recorded(event_log& log) {
    const std::uint64_t turn = held_turn_;
    const std::size_t at = held_at_;
    m_.unlock();
    log.set(at, turn);
  }

  word_lock m_;
  // Counted by logging threads only, each while it holds the lock.
  std::uint64_t turns_ = 0;      // acquisitions so far
  std::uint64_t held_turn_ = 0;  // the holder's turn, and where its log keeps it
  std::size_t held_at_ = 0;
  bool ordered_ = true;
};

/// A barrier's completion that does nothing.
struct no_completion {
  void operator()() const noexcept {}
};

/// Cores of this machine (std::thread::hardware_concurrency(), at least 1), read once.
[[nodiscard]] inline std::size_t machine_cores() noexcept {
  static const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
  return cores;
}

/// A barrier with a completion (which must not throw), as std::barrier<Completion>, that waits by
/// spinning first: a thread that arrives early watches the phase for up to its spin before it
/// sleeps on a futex (C++20's atomic wait), when the threads that the library started in this
/// process (`started_threads`) are no more than the machine's cores. A futex wake-up costs 30-40 us
/// on the development VM (std::barrier's wait spins for well under a microsecond before it
/// sleeps); the default spin, `spin_budget`, is about the cost of one, the classic bound for
/// spinning before blocking. With more threads than cores a spinner would hold a core that a
/// thread it waits for needs, so it sleeps at once: counted over the process, not the barrier,
/// as four nodes of two workers have barriers of two threads and eight threads on the cores.
/// In a simulated run, the same phases in virtual time: the last task to arrive runs the
/// completion, and every waiting task continues from its clock, paying a wake-up unless it was
/// woken within the spin on a machine with a core for each of the simulation's tasks.
template <class Completion = no_completion>
class barrier {
 public:
  static constexpr std::chrono::microseconds spin_budget{40};

  explicit barrier(std::ptrdiff_t expected, Completion completion = Completion(),
                   std::chrono::microseconds spin = spin_budget)
      : completion_(std::move(completion)), spin_(spin), remaining_(expected), next_(expected) {}

  void arrive_and_wait() {
    simulation_hooks* const s = simulated();
    const std::uint64_t phase = phase_.load(std::memory_order_acquire);
    if (arrive(s)) return;
    if (s != nullptr) [[unlikely]] {
      const double spin = std::chrono::duration<double>(spin_).count();
      while (phase_.load(std::memory_order_relaxed) == phase) s->park_spinning(this, spin);
      return;
    }
    wait_past(phase);
  }

  /// Arrives, and leaves the barrier's later phases.
  void arrive_and_drop() {
    next_.fetch_sub(1, std::memory_order_relaxed);  // before the arrival: the phase's end reads it
    (void)arrive(simulated());
  }

 private:
  // Counts an arrival; the last one of a phase runs the completion and opens the next phase,
  // waking the waiters: threads, or the simulated tasks parked on it (`s`, in a simulated run).
  bool arrive(simulation_hooks* s) {
    if (remaining_.fetch_sub(1, std::memory_order_acq_rel) > 1) return false;
    completion_();
    remaining_.store(next_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    phase_.fetch_add(1, std::memory_order_release);
    if (s != nullptr) {
      s->unpark_all(this);
    } else {
      phase_.notify_all();
    }
    return true;
  }
  void wait_past(std::uint64_t phase) const noexcept {
    if (started_threads.load(std::memory_order_relaxed) <= machine_cores()) {
      const auto until = std::chrono::steady_clock::now() + spin_;
      do {
        for (int i = 0; i < 64; ++i) {
          if (phase_.load(std::memory_order_acquire) != phase) return;
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        }
      } while (std::chrono::steady_clock::now() < until);
    }
    for (std::uint64_t now = phase_.load(std::memory_order_acquire); now == phase;
         now = phase_.load(std::memory_order_acquire)) {
      phase_.wait(phase, std::memory_order_acquire);
    }
  }

  Completion completion_;
  std::chrono::microseconds spin_;
  // The arrivals still due in this phase and in the next phases; the phase, on a line of its own
  // (the spinners read it while the others count their arrivals).
  std::atomic<std::ptrdiff_t> remaining_;
  std::atomic<std::ptrdiff_t> next_;
  alignas(64) std::atomic<std::uint64_t> phase_{0};
};

/// std::condition_variable_any for a `detail::mutex`; in a simulated run, a wait in virtual time
/// that a notify ends (its deadline is not kept there: a wait no task can end is a sim::deadlock
/// error instead of a timeout).
class condition {
 public:
  template <class Clock, class Duration, class Pred>
  bool wait_until(std::unique_lock<mutex>& lock, const std::chrono::time_point<Clock, Duration>& deadline, Pred pred) {
    if (auto* s = simulated()) [[unlikely]] {
      while (!pred()) {
        lock.unlock();  // one task runs at a time: nothing happens between these two calls
        s->park(this);
        lock.lock();
      }
      return true;
    }
    return cv_.wait_until(lock, deadline, std::move(pred));
  }
  void notify_all() {
    if (auto* s = simulated()) [[unlikely]] {
      s->unpark_all(this);
      return;
    }
    cv_.notify_all();
  }

 private:
  std::condition_variable_any cv_;
};

/// std::this_thread::sleep_for; in a simulated run, that much virtual time.
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  if (auto* s = simulated()) [[unlikely]] {
    s->sleep(std::chrono::duration<double>(d).count());
    return;
  }
  std::this_thread::sleep_for(d);
}

/// std::this_thread::sleep_until on steady_clock; in a simulated run, until that virtual time
/// (detail::clock_now's scale).
inline void sleep_until(std::chrono::steady_clock::time_point t) {
  if (auto* s = simulated()) [[unlikely]] {
    s->sleep(std::chrono::duration<double>(t - clock_now()).count());
    return;
  }
  std::this_thread::sleep_until(t);
}

/// std::this_thread::yield in a loop that polls what another thread changes; in a simulated
/// run, a microsecond of virtual time (about what a yield takes), so that the others run
/// meanwhile.
inline void pause_polling() {
  if (auto* s = simulated()) [[unlikely]] {
    s->sleep(1e-6);
    return;
  }
  std::this_thread::yield();
}

/// a.wait(seen, order): returns once `a` no longer holds `seen` (it may return spuriously in a
/// real run, as std::atomic::wait may not, so callers recheck in a loop either way).
template <class T>
void wait_for_change(const std::atomic<T>& a, T seen, std::memory_order order) {
  if (auto* s = simulated()) [[unlikely]] {
    while (a.load(order) == seen) s->park(&a);
    return;
  }
  a.wait(seen, order);
}

/// a.notify_all(), and wakes simulated tasks waiting in wait_for_change.
template <class T>
void notify_change(std::atomic<T>& a) noexcept {
  if (auto* s = simulated()) [[unlikely]] {
    s->unpark_all(&a);
    return;
  }
  a.notify_all();
}

}  // namespace asgd::inline v0::detail
