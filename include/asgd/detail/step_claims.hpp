#pragma once
// Internal: how a free-running trainer's workers share out the steps of a segment.

#include <asgd/detail/event_log.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/version.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>

namespace asgd::inline v0::detail {

/// Steps [next, end) of a segment, shared out to `workers` workers.
///
/// A worker claims a run of steps from a shared counter (one write to a shared cache line per
/// run, not per step) and takes them one at a time from a word of its own. When the counter is
/// spent, a worker takes the steps that other workers claimed and have not begun. So a worker
/// descheduled while it holds a claim does not hold up the segment's end, and the segment's last
/// steps are taken by running workers, not by one that wakes long after the others finished
/// (with its momentum buffer as it was when it went to sleep). The paper's code claims one step
/// at a time from a shared ticket; this keeps its property that a sleeping worker holds no step
/// but the one it has begun (the trainer takes a worker's next step during its current one, so
/// that is the next step when the worker sleeps between two).
///
/// A worker's word packs the index of its next unbegun step (high bits) with how many of its
/// claimed steps are unbegun (low bits). Its owner and thieves take a step with one CAS on it
/// (uncontended but at the end: the owner's own line); a lone worker, which no thief can reach,
/// with a plain load and store (the CAS, a locked instruction that waits for the step's stores
/// to drain, cost it about 4 of its 33 ns of bookkeeping a step). Indices only grow, so a word
/// never takes a value twice (no ABA). All relaxed: a step index orders nothing; what a step
/// reads and writes is ordered by the store it goes through.
///
/// A recording worker (detail/event_log.hpp) logs the steps it takes and the landings it asks
/// for; a replaying one gets them from its log and touches no shared word here.
class step_claims {
 public:
  /// The most steps a worker claims at once.
  static constexpr std::uint64_t max_claim = 64;

  /// A step to take, and where the run's progress is: the step's own index unless the worker
  /// fell behind (landing(): the others claimed more than a round of the longest runs since) or
  /// took another worker's step; then the newest claimed index, so a schedule follows the run, not the claim.
  struct step {
    std::uint64_t index;
    std::uint64_t progress;
  };

  explicit step_claims(std::size_t workers)
      : workers_(std::max<std::size_t>(workers, 1)), own_(std::make_unique<padded<owner>[]>(workers_)) {}

  /// Starts a segment at `next` (every claim is empty: all earlier steps were taken). Called
  /// while no worker runs.
  void start(std::uint64_t next) noexcept {
    next_.store(next, std::memory_order_relaxed);
    for (std::size_t i = 0; i < workers_; ++i) {
      owner& o = own_[i].value;
      o.word.store(0, std::memory_order_relaxed);
      o.claim_end = next;
    }
  }

  /// The next step worker `id` takes, or none when every step before `end` is taken or begun.
  /// @throws sim::replay_error when a replaying worker's log has no claim next
  std::optional<step> take(std::size_t id, std::uint64_t end) {
    event_log* const log = logged();
    if (log == nullptr) [[likely]]
      return claim(id, end);
    return take_logged(*log, id, end);
  }

  /// The newest claimed index (may pass the segment's end).
  [[nodiscard]] std::uint64_t claimed() const noexcept { return next_.load(std::memory_order_relaxed); }
  /// The counter claimed() reads, for a rate_watch.
  [[nodiscard]] const std::atomic<std::uint64_t>& counter() const noexcept { return next_; }

  /// Where the run's progress is when a step begun at progress `at` lands: `at`, unless the
  /// worker was away during the step (descheduled: see away()); then the newest claimed index
  /// before `end`. A schedule evaluated here
  /// gives a step that waited out the run the run's late rate, not the rate of its start.
  /// @throws sim::replay_error when a replaying worker's log has no landing next
  [[nodiscard]] std::uint64_t landing(std::uint64_t at, std::uint64_t end) const {
    event_log* const log = logged();
    if (log == nullptr) [[likely]]
      return progress(at, end);
    return landing_logged(*log, at, end);
  }

  /// The claimed index past which landing(at) would answer otherwise than it does now (the
  /// worker was away, or away for longer): a write checks claimed() against it at each entry,
  /// which costs a relaxed load. No such index for a recording or replaying worker, whose log
  /// holds the landings it asks for, not those checks.
  [[nodiscard]] std::uint64_t moved_past(std::uint64_t at) const noexcept {
    if (logged() != nullptr) return std::numeric_limits<std::uint64_t>::max();
    return std::max(at + (workers_ + 1) * max_claim, claimed());
  }

  /// Whether a worker whose previous step landed at `before` and whose next lands at `after` was
  /// away meanwhile: the others claimed more than a round of the longest runs. The margin has
  /// one run more than a round: the worker's own next run, which the trainer may claim before
  /// the current step lands (a lone worker's step would otherwise count as away when it did).
  [[nodiscard]] bool away(std::uint64_t before, std::uint64_t after) const noexcept {
    return after > before + (workers_ + 1) * max_claim;
  }

 private:
  // A recording or replaying worker's take() and landing(), out of line, so that the common
  // path stays small enough to inline into the step.
  [[gnu::noinline]] std::optional<step> take_logged(event_log& log, std::size_t id, std::uint64_t end) {
    if (log.replaying()) {
      const event_log::entry& e = log.next(replay_event::claim);
      if (e.a == event_log::no_step) return std::nullopt;
      return step{e.a, e.b};
    }
    const std::optional<step> s = claim(id, end);
    log.add(replay_event::claim, s ? s->index : event_log::no_step, s ? s->progress : 0);
    return s;
  }
  [[gnu::noinline]] std::uint64_t landing_logged(event_log& log, std::uint64_t at, std::uint64_t end) const {
    if (log.replaying()) return log.next(replay_event::landing).a;
    const std::uint64_t now = progress(at, end);
    log.add(replay_event::landing, now);
    return now;
  }

  std::optional<step> claim(std::size_t id, std::uint64_t end) noexcept {
    owner& me = own_[id].value;
    // A worker that others overtook by more than a round of the longest runs was descheduled
    // while holding this claim: its step is taken where the run is (landing()).
    const auto own = workers_ == 1 ? take_own(me.word) : take_unbegun(me.word);
    if (own) return step{*own, progress(*own, end)};
    if (next_.load(std::memory_order_relaxed) < end) {
      // A run is at most 1/16 of this worker's share of what is left, so the workers reach the
      // end together. (What is left is estimated from the end of this worker's last claim.)
      const std::uint64_t left = end > me.claim_end ? end - me.claim_end : 0;
      const std::uint64_t run = std::clamp<std::uint64_t>(left / (16 * workers_), 1, max_claim);
      const std::uint64_t k = next_.fetch_add(run, std::memory_order_relaxed);
      if (k < end) {
        const std::uint64_t n = std::min(run, end - k);
        me.claim_end = k + n;
        // Only this worker writes its word while no step of it is unbegun (a thief's CAS expects
        // an unbegun step), so a plain store suffices.
        if (n > 1) me.word.store(pack(k + 1, n - 1), std::memory_order_relaxed);
        return step{k, k};
      }
    }
    return steal(id, end);
  }

  // landing()'s value.
  [[nodiscard]] std::uint64_t progress(std::uint64_t at, std::uint64_t end) const noexcept {
    const std::uint64_t now = claimed();
    return away(at, now) ? std::max(at, std::min(now, end) - 1) : at;
  }

  static constexpr unsigned count_bits = 7;  // max_claim fits
  static_assert(max_claim < (std::uint64_t{1} << count_bits));
  static constexpr std::uint64_t pack(std::uint64_t index, std::uint64_t count) noexcept {
    return (index << count_bits) | count;
  }
  static constexpr std::uint64_t index(std::uint64_t w) noexcept { return w >> count_bits; }
  static constexpr std::uint64_t unbegun(std::uint64_t w) noexcept { return w & ((std::uint64_t{1} << count_bits) - 1); }

  struct owner {
    std::atomic<std::uint64_t> word{0};
    std::uint64_t claim_end = 0;  // owner only: the end of its last claim
  };

  // The index of the claim's next unbegun step, which is now begun; none when all are.
  static std::optional<std::uint64_t> take_unbegun(std::atomic<std::uint64_t>& word) noexcept {
    std::uint64_t w = word.load(std::memory_order_relaxed);
    while (unbegun(w) > 0) {
      if (word.compare_exchange_weak(w, w + (std::uint64_t{1} << count_bits) - 1, std::memory_order_relaxed)) {
        return index(w);
      }
    }
    return std::nullopt;
  }

  // take_unbegun() for a word that only its owner touches (no other worker to steal from).
  static std::optional<std::uint64_t> take_own(std::atomic<std::uint64_t>& word) noexcept {
    const std::uint64_t w = word.load(std::memory_order_relaxed);
    if (unbegun(w) == 0) return std::nullopt;
    word.store(w + (std::uint64_t{1} << count_bits) - 1, std::memory_order_relaxed);
    return index(w);
  }

  // Takes one unbegun step of another worker's claim, starting with the next worker.
  std::optional<step> steal(std::size_t id, std::uint64_t end) noexcept {
    for (std::size_t j = 1; j < workers_; ++j) {
      if (const auto k = take_unbegun(own_[(id + j) % workers_].value.word)) return step{*k, end - 1};
    }
    return std::nullopt;
  }

  std::size_t workers_;
  alignas(cache_line) std::atomic<std::uint64_t> next_{0};
  std::unique_ptr<padded<owner>[]> own_;
};

/// A step's learning rate as a store asks for it, `ask(tau)`, with watch(): a check of whether
/// the run has moved on since the rate was asked so far that a new question would be answered
/// otherwise (the worker was away meanwhile: step_claims::landing). A store takes the watch
/// right after asking, checks it at each entry of a write and asks again where it holds: asking
/// at each entry (a schedule's evaluation) cost 16% of sparse HOGWILD!'s throughput. Without
/// claims (lockstep modes) the run never moves on while a step writes.
template <class Ask>
class landing_rate {
 public:
  landing_rate(Ask& ask, const step_claims* claims, std::uint64_t at) noexcept : ask_(ask), claims_(claims), at_(at) {}

  double operator()(std::uint64_t tau) { return ask_(tau); }
  /// The check for a rate asked just now.
  [[nodiscard]] rate_watch watch() const noexcept {
    return claims_ != nullptr ? rate_watch(claims_->counter(), claims_->moved_past(at_)) : rate_watch();
  }

 private:
  Ask& ask_;
  const step_claims* claims_;
  std::uint64_t at_;
};

}  // namespace asgd::inline v0::detail
