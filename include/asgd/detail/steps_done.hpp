#pragma once
// Internal: a node's steps done, counted by its workers, and its averager's wait for a count.

#include <asgd/detail/memory.hpp>
#include <asgd/detail/sync.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace asgd::inline v0::detail {

/// The steps a node's workers have finished, and a wait (the averager's) until they number at
/// least a target.
///
/// Each worker counts its own steps on a cache line of its own: no line that two workers write
/// is written per step. The waiter stores its target and then reads the counts; a worker stores
/// its count and then reads the target, all seq_cst: either the waiter sees the worker's step or
/// the worker sees the target. A worker notifies only when the step it finished has an index at
/// or past the target's last step, so most steps notify nobody.
///
/// Steps end out of index order: a worker descheduled during step 270 finishes it after others
/// finished steps 271 to 299. When such a straggler's end is the one that brings the count to
/// the target, the index test does not fire. So each worker also keeps the highest index it
/// finished, and a waiter that finds the count short while some step at or past the target's
/// last is done (a straggler is out) asks every step's end to notify until the count is reached.
/// Without that, the waiter slept until a later step ended: late in a real run, and forever in
/// a replay, where the workers' next steps wait for the averager's recorded turn at a lock.
class steps_done {
 public:
  static constexpr std::uint64_t never = ~std::uint64_t{0};

  /// Counts for `workers` workers, the `steps` before a resumed run's start counted as done (by
  /// worker 0). Called before any worker runs.
  void start(std::size_t workers, std::uint64_t steps) {
    workers_ = std::make_unique<worker[]>(std::max<std::size_t>(workers, 1));
    n_ = workers;
    workers_[0].count.store(steps, std::memory_order_relaxed);
    workers_[0].reached.store(steps, std::memory_order_relaxed);
  }

  /// Worker `id` finished the step of index `index`: counts it, and wakes the waiter when this
  /// is a step it waits for. Only worker `id` calls it.
  void finish(std::size_t id, std::uint64_t index) noexcept {
    worker& w = workers_[id];
    if (index + 1 > w.reached.load(std::memory_order_relaxed)) w.reached.store(index + 1, std::memory_order_relaxed);
    // A seq_cst store to this worker's own line (on x86 an xchg on a line this core owns),
    // then a seq_cst load of the target, which changes once a round.
    w.count.store(w.count.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
    if (index + 1 >= target_.load(std::memory_order_seq_cst)) wake();
  }

  /// The steps finished so far.
  [[nodiscard]] std::uint64_t count(std::memory_order order = std::memory_order_relaxed) const noexcept {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < n_; ++i) s += workers_[i].count.load(order);
    return s;
  }

  /// Waits until count() >= `target`, and returns true; returns false as soon as `give_up()`
  /// does (it is checked after every wake: wake() it when it changes, or give a `poll` period
  /// after which the waiter checks it again without a wake). One waiter at a time.
  template <class GiveUp>
  bool wait_for(std::uint64_t target, GiveUp&& give_up, std::chrono::microseconds poll = {}) {
    bool straggler = false;
    for (;;) {
      const std::uint32_t seen = wakes_.load(std::memory_order_acquire);
      target_.store(straggler ? 0 : target, std::memory_order_seq_cst);  // then the counts: see finish()
      if (count(std::memory_order_seq_cst) >= target) break;
      // Read after the counts: a worker whose count was seen has its highest index seen too.
      if (!straggler && reached() >= target) {
        straggler = true;
        continue;
      }
      if (give_up()) {
        target_.store(never, std::memory_order_relaxed);
        return false;
      }
      if (poll.count() > 0) {
        sleep_for(poll);
      } else {
        wait_for_change(wakes_, seen, std::memory_order_acquire);
      }
    }
    target_.store(never, std::memory_order_relaxed);  // busy: no step notifies
    return true;
  }

  /// Wakes the waiter, to check its target and give_up() again.
  void wake() noexcept {
    wakes_.fetch_add(1, std::memory_order_release);
    notify_change(wakes_);
  }

 private:
  struct alignas(cache_line) worker {
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> reached{0};  // the highest index finished, plus one
  };

  [[nodiscard]] std::uint64_t reached() const noexcept {
    std::uint64_t r = 0;
    for (std::size_t i = 0; i < n_; ++i) r = std::max(r, workers_[i].reached.load(std::memory_order_acquire));
    return r;
  }

  std::size_t n_ = 0;
  std::unique_ptr<worker[]> workers_ = std::make_unique<worker[]>(1);
  alignas(cache_line) std::atomic<std::uint64_t> target_{never};
  std::atomic<std::uint32_t> wakes_{0};
};

}  // namespace asgd::inline v0::detail
