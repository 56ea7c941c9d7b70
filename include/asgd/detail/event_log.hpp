#pragma once
// Internal: what a worker of a recorded run observed of the others, in its program order, and
// the replay of it in a simulated run (sim::recording is the public side).
//
// A run of a consistent mode is data-race free: what a worker computes depends on the others only
// through the values it reads at a few points (the step it claims, where the run's progress is
// when its update lands, its turn at a lock, the version it pins and whether its publication
// won). A recording worker logs those values; a replaying worker, a task of a simulation, takes
// them from its log instead (the step, the progress) or waits in virtual time until the shared
// state is what it saw (the lock's turn, the version), so that the run computes the same floats.
// Outside a recorded or replayed run the slot is null and each point is one thread-local load
// and a branch, as the simulation's hooks are.

#include <asgd/detail/config.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/simulation.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asgd::inline v0::sim {

/// A replay that does not follow its recording: the run replayed is not the run recorded (its
/// code, problem or settings differ), or the recording is damaged.
class replay_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace asgd::inline v0::sim

namespace asgd::inline v0::detail {

/// What a logged value is.
enum class replay_event : std::uint8_t {
  claim,      // a step claimed: its index and the progress then (a = no_step: no step left)
  landing,    // where the run's progress was when an update landed
  lock_turn,  // the lock's acquisitions by logging threads before this one
  pin,        // a published version pinned: its number, and the pins taken of it before
  publish,    // a publication: a = 1 won (b: the pins of the replaced version), a = 0 lost
  progress,   // a node's steps done, as its averager read them when it took its next rounds,
              // and the rounds peers had called by then (b)
};

[[nodiscard]] inline const char* replay_event_name(replay_event e) noexcept {
  switch (e) {
    case replay_event::claim: return "a step claim";
    case replay_event::landing: return "a landing";
    case replay_event::lock_turn: return "a lock's turn";
    case replay_event::pin: return "a version pinned";
    case replay_event::publish: return "a publication";
    case replay_event::progress: return "a node's progress";
  }
  return "an unknown event";
}

/// One worker's observations, recorded in a real run or replayed in a simulated one. On a cache
/// line of its own: workers append to their logs side by side.
class alignas(cache_line) event_log {
 public:
  struct entry {
    replay_event kind;
    std::uint64_t a;
    std::uint64_t b;
  };
  static constexpr std::uint64_t no_step = ~std::uint64_t{0};

  event_log(std::size_t worker, bool replaying, std::vector<entry> entries = {})
      : entries_(std::move(entries)), worker_(worker), replaying_(replaying) {}

  [[nodiscard]] bool replaying() const noexcept { return replaying_; }
  [[nodiscard]] std::size_t worker() const noexcept { return worker_; }
  [[nodiscard]] const std::vector<entry>& entries() const noexcept { return entries_; }

  void add(replay_event kind, std::uint64_t a, std::uint64_t b = 0) { entries_.push_back({kind, a, b}); }
  /// Fills in the value of the entry logged at `index` (a place kept for it).
  void set(std::size_t index, std::uint64_t a) noexcept { entries_[index].a = a; }
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
  /// Room for `events`, its pages touched: a recording worker then neither copies its log nor
  /// takes a page fault while it holds a lock.
  void reserve(std::size_t events) {
    entries_.resize(events);
    entries_.clear();
  }

  /// The next logged entry, which must be of `kind`.
  /// @throws sim::replay_error when it is another kind or the log is spent
  const entry& next(replay_event kind) {
    if (next_ >= entries_.size()) [[unlikely]]
      spent(kind);
    const entry& e = entries_[next_];
    if (e.kind != kind) [[unlikely]]
      differs(kind, e.kind);
    ++next_;
    return e;
  }

  /// Whether the next logged entry is of `kind` (false when the log is spent).
  [[nodiscard]] bool next_is(replay_event kind) const noexcept {
    return next_ < entries_.size() && entries_[next_].kind == kind;
  }

  /// Events not replayed yet (a replay that ends with some left did less than the recording).
  [[nodiscard]] std::size_t left() const noexcept { return entries_.size() - next_; }

 private:
  // next()'s errors, out of line: every step of a trainer calls next(), so every trainer's
  // translation unit would compile them again.
  [[noreturn]] ASGD_DECL void spent(replay_event kind) const;
  [[noreturn]] ASGD_DECL void differs(replay_event replayed, replay_event recorded) const;

  std::vector<entry> entries_;
  std::size_t next_ = 0;
  std::size_t worker_;
  bool replaying_;
};

/// The log of the worker on this thread, or null.
inline event_log*& event_log_slot() noexcept {
  static thread_local event_log* log = nullptr;
  return log;
}

[[nodiscard]] inline event_log* logged() noexcept {
#if defined(ASGD_NO_SIMULATION)
  return nullptr;
#else
  return event_log_slot();
#endif
}

/// A value this thread read that decides what it does next but that no lock or version orders
/// (a node's steps done, as its averager saw them): logged in a recorded run, the recorded value
/// in a replay, `value` itself otherwise.
inline std::uint64_t logged_value(replay_event kind, std::uint64_t value) {
  event_log* const log = logged();
  if (log == nullptr) return value;
  if (log->replaying()) return log->next(kind).a;
  log->add(kind, value);
  return value;
}

/// Installs `log` (may be null) on this thread while it lives.
class event_log_scope {
 public:
  explicit event_log_scope(event_log* log) noexcept : outer_(std::exchange(event_log_slot(), log)) {}
  ~event_log_scope() { event_log_slot() = outer_; }
  event_log_scope(const event_log_scope&) = delete;
  event_log_scope& operator=(const event_log_scope&) = delete;

 private:
  event_log* outer_;
};

/// In a replay: waits in virtual time until `ready()`, rechecking whenever replay_moved(key).
template <class Ready>
void replay_wait(const void* key, Ready&& ready) {
  simulation_hooks* const s = simulated();
  if (s == nullptr || !s->in_task()) {
    throw std::logic_error("asgd: replay: a replaying worker runs outside a simulated task");
  }
  while (!ready()) s->park(key);
}

/// In a replay: the state that replay_wait(key, ...) looks at changed.
inline void replay_moved(const void* key) {
  if (simulation_hooks* const s = simulated()) s->unpark_all(key);
}

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/event_log.ipp>
#endif
