#pragma once
/// @file
/// `asgd::sim::barrier`: std::barrier for tasks of a `sim::scheduler`: waits take virtual time
/// instead of blocking the thread that holds the baton.

#include <asgd/sim/scheduler.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asgd::inline v0::sim {

/// A reusable barrier of `expected` tasks in virtual time: every phase ends when the last
/// expected task arrives; that task runs the completion (at its clock, the latest of the
/// phase), then every waiting task continues from that clock. Like std::barrier, a task may
/// leave for good with arrive_and_drop. A completion that throws fails the run (std::barrier's
/// must not throw).
class barrier {
 public:
  /// @throws std::invalid_argument for 0 tasks
  explicit barrier(std::size_t expected, std::function<void()> completion = {})
      : expected_(expected), completion_(std::move(completion)) {
    if (expected == 0) throw std::invalid_argument("asgd: sim::barrier needs at least one task");
  }

  /// Arrives and waits, in virtual time, for the phase's last task.
  void arrive_and_wait(task& t) {
    if (arrive(t)) return;
    const std::uint64_t phase = phase_;
    waiting_.push_back(t.id());
    while (phase_ == phase) t.block();
  }

  /// Arrives, and takes this task out of the next phases.
  /// @throws std::logic_error when every task has dropped already
  void arrive_and_drop(task& t) {
    if (expected_ == 0) {
      throw std::logic_error("asgd: sim::barrier: task " + std::to_string(t.id()) + " drops from a barrier of none");
    }
    --expected_;
    if (arrived_ >= expected_ && expected_ > 0) complete(t);
  }

  /// Phases completed so far.
  [[nodiscard]] std::uint64_t phases() const noexcept { return phase_; }

 private:
  // Counts t's arrival; true when it was the last one (the phase completed).
  bool arrive(task& t) {
    if (++arrived_ < expected_) return false;
    complete(t);
    return true;
  }
  void complete(task& t) {
    if (completion_) completion_();
    arrived_ = 0;
    ++phase_;
    for (std::size_t id : waiting_) t.wake(id);
    waiting_.clear();
  }

  std::size_t expected_;
  std::function<void()> completion_;
  std::size_t arrived_ = 0;
  std::uint64_t phase_ = 0;
  std::vector<std::size_t> waiting_;
};

}  // namespace asgd::inline v0::sim
