#pragma once
/// @file
/// `asgd::sim::mutex`: a lock for tasks of a `sim::scheduler`, whose waits take virtual time
/// instead of blocking the thread that holds the baton.

#include <asgd/sim/scheduler.hpp>

#include <cstddef>
#include <deque>
#include <stdexcept>
#include <string>

namespace asgd::inline v0::sim {

/// A mutual-exclusion lock in virtual time: a task that finds it held waits (`task::block`)
/// until the holder unlocks; waiters get it first come, first served. It needs no atomics:
/// the scheduler runs one task at a time. What holding it costs is the holder's `advance`.
class mutex {
 public:
  /// Takes the lock for `t`, waiting (in virtual time) while another task holds it.
  /// @throws std::logic_error when `t` holds it already
  void lock(task& t) {
    if (held_ && holder_ == t.id()) {
      throw std::logic_error("asgd: sim::mutex: task " + std::to_string(t.id()) + " locks it twice");
    }
    if (held_) {
      waiters_.push_back(t.id());
      t.block();  // unlock hands the lock over before it wakes this task
      return;
    }
    held_ = true;
    holder_ = t.id();
  }

  /// Releases the lock held by `t`; the longest waiter, if any, holds it next and runs from
  /// `t`'s clock on.
  /// @throws std::logic_error when `t` does not hold it
  void unlock(task& t) {
    if (!held_ || holder_ != t.id()) {
      throw std::logic_error("asgd: sim::mutex: task " + std::to_string(t.id()) + " unlocks a lock it does not hold");
    }
    if (waiters_.empty()) {
      held_ = false;
      return;
    }
    holder_ = waiters_.front();
    waiters_.pop_front();
    t.wake(holder_);
  }

  /// Whether a task holds the lock.
  [[nodiscard]] bool locked() const noexcept { return held_; }

 private:
  bool held_ = false;
  std::size_t holder_ = 0;
  std::deque<std::size_t> waiters_;
};

}  // namespace asgd::inline v0::sim
