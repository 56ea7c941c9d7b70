#pragma once
/// @file
/// `asgd::sim::scheduler`: tasks that run one at a time in the order of their virtual clocks, so
/// that a run of many "threads" on any host, with any number of cores, interleaves the same way
/// every time.
///
/// The core of the deterministic simulator (sim::simulation runs trainers' workers and
/// in-process nodes on it). Each task is an OS thread of its own, so task
/// code is ordinary code (the same code paths as a real run), but only the task that holds the
/// baton runs; a task may start others (`spawn`) and wait for them to finish (`join`). A task
/// says how long its work takes in virtual time with `advance(seconds)`; the baton then goes to
/// the task whose clock is earliest (ties to the lower id), which may be the same task. So every
/// access to shared state between two `advance` calls happens, in virtual time, at the task's
/// clock, and accesses happen in clock order whatever the host's scheduler does.
///
/// ```
/// asgd::sim::scheduler s;
/// std::vector<int> order;
/// s.run(3, [&](asgd::sim::task& t) {
///   for (int k = 0; k < 2; ++k) {
///     order.push_back(static_cast<int>(t.id()));  // no lock: one task runs at a time
///     t.advance(1.0 + static_cast<double>(t.id()));
///   }
/// });
/// // order: 0 1 2 0 1 2 (clocks 0 0 0, then 1 2 3)
/// ```

#include <asgd/detail/threads.hpp>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace asgd::inline v0::sim {

/// Thrown inside a task's `advance` or `block` once another task failed: it unwinds the task,
/// and the scheduler's run() rethrows the first failure instead.
struct cancelled {};

/// Every task left waits (`block`) and none can wake another: the run cannot go on. The
/// message names the waiting tasks and their clocks.
class deadlock : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class scheduler;

/// A running task, as its code sees it.
class task {
 public:
  /// The task's number: 0 to tasks - 1 for run()'s tasks, then the spawned ones in order.
  [[nodiscard]] std::size_t id() const noexcept { return id_; }
  /// The task's virtual clock in seconds: the sum of its advances.
  [[nodiscard]] double now() const noexcept;
  /// The task's work since the last call took `seconds` of virtual time (finite, >= 0): its
  /// clock moves on, and every task whose clock is now earlier runs before it continues.
  /// @throws std::invalid_argument for a negative or non-finite duration
  /// @throws cancelled when another task failed
  void advance(double seconds);
  /// Waits, in virtual time, until another task calls `wake(id())`: gives up the baton, and
  /// continues at the waker's clock (or its own, if later). Waiting on an OS primitive instead
  /// would stop the run with the baton held.
  /// @throws deadlock when no task is left to wake it (thrown in the task that would wait)
  /// @throws cancelled when another task failed
  void block();
  /// Makes task `other`, if it waits in `block`, ready to run at this task's clock; nothing
  /// when it does not wait. This task keeps the baton.
  void wake(std::size_t other);
  /// Starts `body` as a new task of this run, its clock this task's; returns its id. It runs
  /// when its clock is the earliest, like every task; run() returns once it finished too. An
  /// exception it throws fails the run as any task's does.
  /// @throws std::system_error when its thread cannot start (this task goes on)
  /// @throws cancelled when another task failed
  std::size_t spawn(std::function<void(task&)> body);
  /// Waits, in virtual time, until task `other` finished, and continues at its end (or this
  /// task's clock, if later).
  /// @throws std::invalid_argument for an id that is not a task of the run, or this task's
  /// @throws deadlock, cancelled as block() does
  void join(std::size_t other);
  /// The run's tasks that have not finished, spawned ones included, this one too.
  [[nodiscard]] std::size_t unfinished_tasks() const;

 private:
  friend class scheduler;
  task(scheduler& s, std::size_t id) : owner_(&s), id_(id) {}
  scheduler* owner_;
  std::size_t id_;
};

/// Runs tasks one at a time in virtual-clock order. One run at a time per scheduler.
class scheduler {
 public:
  /// Runs `body(task&)` for tasks 0 .. tasks - 1, every clock starting at 0, and returns when all
  /// have finished, the spawned ones too: the latest clock. Tasks start in id order. The first
  /// exception a task throws cancels the others: each, when the baton next reaches it, gets
  /// `cancelled` from its `advance` (or does not start), so even unwinding runs one task at a
  /// time. run() then rethrows that first exception.
  /// @throws std::invalid_argument for 0 tasks
  /// @throws std::system_error when a task's thread cannot start
  double run(std::size_t tasks, const std::function<void(task&)>& body) {
    if (tasks == 0) throw std::invalid_argument("asgd: sim::scheduler::run needs at least one task");
    clocks_.assign(tasks, 0.0);
    wakeups_ = std::deque<std::condition_variable>(tasks);
    blocked_.assign(tasks, false);
    finished_.assign(tasks, false);
    joining_.assign(tasks, false);
    joiners_.assign(tasks, {});
    bodies_.clear();
    threads_.clear();
    ready_ = {};
    for (std::size_t i = 1; i < tasks; ++i) ready_.push({0.0, i});
    running_ = nobody;  // no task runs before every first thread exists
    finished_count_ = 0;
    error_ = nullptr;
    failed_ = false;
    switches_ = 0;
    threads_.reserve(tasks);
    try {
      for (std::size_t i = 0; i < tasks; ++i) {
        threads_.push_back(detail::start_thread("simulated task " + std::to_string(i) + " of " + std::to_string(tasks),
                                                [this, i, &body] { run_task(i, body); }));
      }
    } catch (...) {
      // Tasks without a thread never take the baton; the started ones are cancelled.
      {
        std::lock_guard lock(mutex_);
        fail(nullptr);  // the thread's error is rethrown below
        for (std::size_t i = threads_.size(); i < tasks; ++i) finish(i);
        running_ = 0;
      }
      wakeups_[0].notify_one();
      wait_and_join();
      throw;
    }
    {
      std::lock_guard lock(mutex_);
      running_ = 0;
    }
    wakeups_[0].notify_one();
    wait_and_join();
    if (error_) std::rethrow_exception(error_);
    double latest = 0.0;
    for (double c : clocks_) latest = std::max(latest, c);
    return latest;
  }

  /// Baton hand-overs from one task to another in the last run (a task that stays earliest
  /// keeps running without one).
  [[nodiscard]] std::uint64_t switches() const noexcept { return switches_; }

 private:
  friend class task;
  // (clock, id): the earliest clock first, ties to the lower id.
  using entry = std::pair<double, std::size_t>;

  std::size_t unfinished() {
    std::lock_guard lock(mutex_);
    return clocks_.size() - finished_count_;
  }

  // Waits until every task, spawned ones included, finished; then no task can spawn another.
  void wait_and_join() {
    {
      std::unique_lock lock(mutex_);
      all_done_.wait(lock, [&] { return finished_count_ == clocks_.size(); });
    }
    for (auto& t : threads_) t.join();
  }

  void run_task(std::size_t i, const std::function<void(task&)>& body) {
    task t(*this, i);
    bool cancelled_early = false;
    {
      std::unique_lock lock(mutex_);
      wakeups_[i].wait(lock, [&] { return running_ == i; });
      cancelled_early = failed_;
    }
    try {
      if (!cancelled_early) body(t);
    } catch (const cancelled&) {
    } catch (...) {
      std::lock_guard lock(mutex_);
      fail(std::current_exception());
    }
    std::unique_lock lock(mutex_);
    finish(i);
    if (!failed_ && !has_ready() && waiting() > 0) {
      fail(std::make_exception_ptr(deadlock("asgd: sim: task " + std::to_string(i) + " finished at " +
                                            seconds_text(clocks_[i]) + " while " + describe_waiting() +
                                            ", and no task is left to wake them")));
    }
    const std::size_t next = pass_baton();
    const bool all = finished_count_ == clocks_.size();
    lock.unlock();
    notify(next);
    if (all) all_done_.notify_all();
  }

  // Called with the mutex held: task i is done; those that join it are ready at its clock.
  void finish(std::size_t i) {
    finished_[i] = true;
    ++finished_count_;
    for (std::size_t j : joiners_[i]) {
      joining_[j] = false;
      release(j, clocks_[i]);
    }
    joiners_[i].clear();
  }

  // Called with the mutex held: task j, blocked, is ready again at `clock` or its own, if later.
  void release(std::size_t j, double clock) {
    if (!blocked_[j]) return;
    blocked_[j] = false;
    clocks_[j] = std::max(clocks_[j], clock);  // it is not running: the hand-over orders this write
    ready_.push({clocks_[j], j});
  }

  // Called with the mutex held: keeps the first failure, and makes the waiting tasks ready so
  // that each, in turn, gets the baton and `cancelled`.
  void fail(std::exception_ptr e) {
    if (!error_) error_ = std::move(e);
    failed_ = true;
    for (std::size_t j = 0; j < blocked_.size(); ++j) release(j, clocks_[j]);
  }

  static std::string seconds_text(double s) {
    std::ostringstream os;
    os << s << " s";
    return os.str();
  }
  [[nodiscard]] std::size_t waiting() const {
    return static_cast<std::size_t>(std::count(blocked_.begin(), blocked_.end(), true));
  }
  [[nodiscard]] std::string describe_waiting() const {
    // Appended piece by piece: GCC 12 warns falsely (-Wstringop-overflow) of `" " + std::string`.
    std::string out = "task(s)";
    for (std::size_t j = 0; j < blocked_.size(); ++j) {
      if (!blocked_[j]) continue;
      out.append(" ").append(std::to_string(j)).append(" (at ").append(seconds_text(clocks_[j])).append(")");
    }
    return out.append(" wait");
  }

  static constexpr std::size_t nobody = ~std::size_t{0};

  // Called with the mutex held by the task that gives up the baton (it is in ready_ again, or
  // finished): the earliest ready task that has not finished runs next (one whose thread never
  // started is finished). Returns it (nobody if none), for the caller to notify, after unlocking
  // where it can: a task notified under the lock would wake only to wait for the lock.
  std::size_t pass_baton() {
    if (!has_ready()) return nobody;
    const std::size_t next = ready_.top().second;
    ready_.pop();
    if (next != running_) ++switches_;
    running_ = next;
    return next;
  }
  // Called with the mutex held: whether a task is ready (dropping those that never started).
  bool has_ready() {
    while (!ready_.empty() && finished_[ready_.top().second]) ready_.pop();
    return !ready_.empty();
  }
  void notify(std::size_t next) {
    if (next != nobody) wakeups_[next].notify_one();
  }
  // Gives the baton to the next task and waits until it comes back to task i.
  void hand_over(std::unique_lock<std::mutex>& lock, std::size_t i) {
    const std::size_t next = pass_baton();
    if (next == i) return;
    lock.unlock();
    notify(next);
    lock.lock();
    wakeups_[i].wait(lock, [&] { return running_ == i; });
  }
  // Called with the mutex held: task i's clock moved on; the baton goes to an earlier task.
  void yield_to_earlier(std::unique_lock<std::mutex>& lock, std::size_t i) {
    // Still the earliest (ties go to the lower id): keep the baton.
    if (ready_.empty() || entry{clocks_[i], i} < ready_.top()) return;
    ready_.push({clocks_[i], i});
    hand_over(lock, i);
    if (failed_) throw cancelled{};
  }

  void advance(std::size_t i, double seconds) {
    if (!(std::isfinite(seconds) && seconds >= 0.0)) {
      throw std::invalid_argument("asgd: sim::task " + std::to_string(i) + " advanced by " + seconds_text(seconds) +
                                  ": a duration must be finite and >= 0");
    }
    std::unique_lock lock(mutex_);
    if (failed_) throw cancelled{};
    clocks_[i] += seconds;
    yield_to_earlier(lock, i);
  }

  void block(std::size_t i) {
    std::unique_lock lock(mutex_);
    if (failed_) throw cancelled{};
    wait_blocked(lock, i);
  }
  // Called with the mutex held: task i waits until released.
  void wait_blocked(std::unique_lock<std::mutex>& lock, std::size_t i) {
    if (!has_ready()) {
      throw deadlock("asgd: sim: task " + std::to_string(i) + " waits at " + seconds_text(clocks_[i]) +
                     (waiting() > 0 ? ", and " + describe_waiting() : std::string()) +
                     ": no task is left to wake it");
    }
    blocked_[i] = true;
    hand_over(lock, i);
    if (failed_) throw cancelled{};
  }

  void wake(std::size_t i, std::size_t other) {
    std::lock_guard lock(mutex_);
    if (other >= blocked_.size()) {
      throw std::invalid_argument("asgd: sim::task " + std::to_string(i) + " woke task " + std::to_string(other) +
                                  " of " + std::to_string(blocked_.size()));
    }
    if (joining_[other]) return;  // it waits for a task to finish, not for a wake
    release(other, clocks_[i]);
  }

  std::size_t spawn(std::size_t i, std::function<void(task&)> body) {
    std::unique_lock lock(mutex_);
    if (failed_) throw cancelled{};
    const std::size_t id = clocks_.size();
    bodies_.push_back(std::make_unique<std::function<void(task&)>>(std::move(body)));
    clocks_.push_back(clocks_[i]);
    wakeups_.emplace_back();
    blocked_.push_back(false);
    finished_.push_back(false);
    joining_.push_back(false);
    joiners_.emplace_back();
    const std::function<void(task&)>* b = bodies_.back().get();
    try {
      threads_.push_back(detail::start_thread("simulated task " + std::to_string(id) + ", spawned by task " +
                                                  std::to_string(i),
                                              [this, id, b] { run_task(id, *b); }));
    } catch (...) {
      finish(id);  // it never runs
      throw;
    }
    ready_.push({clocks_[id], id});
    yield_to_earlier(lock, i);  // a tie goes to the lower id: this task goes on
    return id;
  }

  void join(std::size_t i, std::size_t other) {
    std::unique_lock lock(mutex_);
    if (other >= clocks_.size() || other == i) {
      throw std::invalid_argument("asgd: sim::task " + std::to_string(i) + " joined task " + std::to_string(other) +
                                  (other == i ? " (itself)" : " of " + std::to_string(clocks_.size())));
    }
    if (failed_) throw cancelled{};
    if (finished_[other]) {
      clocks_[i] = std::max(clocks_[i], clocks_[other]);
      yield_to_earlier(lock, i);
      return;
    }
    joiners_[other].push_back(i);
    joining_[i] = true;
    wait_blocked(lock, i);
  }

  std::mutex mutex_;
  std::condition_variable all_done_;
  std::vector<double> clocks_;  // task i's, written by task i, or by its waker while it waits
  std::deque<std::condition_variable> wakeups_;  // a deque: a spawn must not move those waited on
  std::vector<bool> blocked_;   // waiting in block() for a wake(), or in join()
  std::vector<bool> finished_;  // done, or never started
  std::vector<bool> joining_;   // waiting in join()
  std::vector<std::vector<std::size_t>> joiners_;  // tasks waiting in join() for task i
  std::vector<std::unique_ptr<std::function<void(task&)>>> bodies_;  // the spawned tasks'
  std::vector<std::thread> threads_;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> ready_;
  std::size_t running_ = nobody;  // the task that holds the baton
  std::size_t finished_count_ = 0;
  std::exception_ptr error_;
  bool failed_ = false;
  std::uint64_t switches_ = 0;
};

// Only task i writes clocks_[i] while it can run (a waker writes it before the hand-over), so it
// reads its own without the lock.
inline double task::now() const noexcept { return owner_->clocks_[id_]; }

inline void task::advance(double seconds) { owner_->advance(id_, seconds); }
inline void task::block() { owner_->block(id_); }
inline void task::wake(std::size_t other) { owner_->wake(id_, other); }
inline std::size_t task::spawn(std::function<void(task&)> body) { return owner_->spawn(id_, std::move(body)); }
inline void task::join(std::size_t other) { owner_->join(id_, other); }
inline std::size_t task::unfinished_tasks() const { return owner_->unfinished(); }

}  // namespace asgd::inline v0::sim
