#pragma once
/// @file
/// Stale synchronous parallel (SSP): HOGWILD! with a bound on how far workers drift apart.

#include <asgd/detail/memory.hpp>
#include <asgd/detail/shared_array_store.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <ostream>
#include <span>
#include <string_view>

namespace asgd::inline v0::consistency {

/// Stale synchronous parallel SGD (Ho et al., NIPS 2013) on a shared-memory model. Each worker
/// has a clock, the number of updates it applied. A worker at clock c starts its next step only
/// when every worker still running has applied at least c - K updates, so no worker runs more
/// than K = `bound` updates ahead of the slowest. For K >= 1 it also lands that step's update
/// only once they have applied c + 1 - K, the condition its next step would wait for: a worker
/// at the edge of the bound waits between its gradient and its update, not after the update.
/// Reads and writes are HOGWILD!'s (relaxed, racy). K = 0 makes every step a bulk-synchronous
/// round. The template argument is the default of the run-time knob: `bounded_staleness<8>` and
/// `bounded_staleness<>{.bound = 8}` are the same mode.
///
/// Guarantees: the clock bound above among running workers (the store records the largest
/// lead it allowed, see `max_lead`); a worker that finished, or is paused at an evaluation or
/// checkpoint, holds nobody back; lock-free updates; waiting workers sleep (atomic wait).
/// Non-guarantees: HOGWILD!'s (torn reads, lost updates); the bound is on clocks, so staleness
/// in updates can reach about K * workers.
template <std::size_t K = 4>
struct bounded_staleness {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "bounded_staleness";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;
  static constexpr bool simulatable = true;

  std::size_t bound = K;  ///< K: how many updates a worker may lead the slowest running one

  class store {
    using base = detail::shared_array_store<detail::write_kind::racy>;
    static constexpr std::uint64_t done = std::numeric_limits<std::uint64_t>::max();

   public:
    struct worker {
      base::worker inner;
      std::size_t id = 0;
      std::uint64_t paused_clock = 0;
      std::uint64_t seen = 0;     // the slowest clock this step's read waited for
      std::uint64_t covered = 0;  // the snapshot's updated coordinates hold that many updates of each worker
    };

    store(const bounded_staleness& mode, const store_config& config, std::span<const float> initial)
        : base_(mode, config, initial),
          bound_(mode.bound),
          workers_(config.workers),
          clocks_(std::make_unique<detail::padded<std::atomic<std::uint64_t>>[]>(config.workers)) {}

    worker make_worker(std::size_t id) const { return {base_.make_worker(id), id}; }

    /// The view holds at least the first (own clock - K) updates of every running worker. The
    /// coordinates the worker's last update wrote were read by that update (HOGWILD!'s view):
    /// they hold every update counted by the clocks that step's read waited for. Only when those
    /// fall short of what this step needs is the whole model copied again (always for K = 0).
    detail::view_handle read(worker& w) {
      const std::uint64_t own = clocks_[w.id].value.load(std::memory_order_relaxed);
      w.seen = wait_for_slowest(w.id);
      if (own > bound_ && w.covered < own - bound_) base_.refresh(w.inner);
      return base_.read(w.inner);
    }
    detail::reader_handle read_sparse(worker& w) {
      wait_for_slowest(w.id);
      return base_.read_sparse(w.inner);
    }

    template <class Dir, class Lr>
    apply_result apply(worker& w, detail::view_handle& h, param_range r, std::span<const float> g, Dir&& dir,
                       Lr&& lr) {
      const std::uint64_t own = clocks_[w.id].value.load(std::memory_order_relaxed);
      // The update reads its coordinates after the clocks its read waited for were loaded
      // (acquire): it holds the updates they count. A worker at the edge of the bound waits
      // here for the clocks its next read needs, so that read copies nothing (never at K = 0,
      // where no clock reaches the own one: that read copies anyway). Waiting after the update
      // instead cost the whole model's copy at every such read, and started both workers'
      // gradients and then their updates together, over the same cache lines (on the MLP, two
      // workers at K = 4: 111k-156k samples/s that way, 193k-256k this way, HOGWILD! 214k-254k).
      if (bound_ > 0 && own + 1 > bound_ && w.seen < own + 1 - bound_) {
        w.seen = wait_for_clock(w.id, own + 1 - bound_);
      }
      w.covered = w.seen;
      const apply_result res = base_.apply(w.inner, h, r, g, dir, lr);
      tick(w.id, own + 1);
      return res;
    }

    template <class Dir, class Lr>
    apply_result apply_sparse(worker& w, detail::reader_handle& h, std::span<const std::uint32_t> idx,
                              std::span<const float> g, Dir&& dir, Lr&& lr) {
      const apply_result res = base_.apply_sparse(w.inner, h, idx, g, dir, lr);
      tick(w.id, clocks_[w.id].value.load(std::memory_order_relaxed) + 1);
      return res;
    }

    /// A finished worker no longer holds anyone back.
    void finish(worker& w) noexcept { tick(w.id, done); }

    /// A paused worker (the trainer pauses all of them for an evaluation or a checkpoint, and a
    /// node's worker while it waits for a late round: settings.averaging.max_lag) holds nobody
    /// back until resume() gives it its clock again.
    void pause(worker& w) noexcept {
      base_.pause(w.inner);
      w.paused_clock = clocks_[w.id].value.load(std::memory_order_relaxed);
      tick(w.id, done);
    }
    void resume(worker& w) noexcept { clocks_[w.id].value.store(w.paused_clock, std::memory_order_release); }

    void copy_to(std::span<float> out) const noexcept { base_.copy_to(out); }
    void mix(std::span<const float> delta) noexcept { base_.mix(delta); }
    void assign(std::span<const float> values) noexcept { base_.assign(values); }
    [[nodiscard]] std::uint64_t version() const noexcept { return base_.version(); }
    [[nodiscard]] store_stats stats() const noexcept { return base_.stats(); }

    /// The largest (own clock - slowest running clock) with which a worker was let start a
    /// step; never above the bound.
    [[nodiscard]] std::uint64_t max_lead() const noexcept { return max_lead_.load(std::memory_order_relaxed); }

   private:
    void tick(std::size_t id, std::uint64_t clock) noexcept {
      clocks_[id].value.store(clock, std::memory_order_release);
      detail::charge_atomic(&ticks_.value);
      ticks_.value.fetch_add(1, std::memory_order_release);
      detail::notify_change(ticks_.value);
    }

    // Smallest clock among running workers, or `own` when all others are done.
    [[nodiscard]] std::uint64_t slowest(std::uint64_t own) const noexcept {
      std::uint64_t m = own;
      for (std::size_t i = 0; i < workers_; ++i) m = std::min(m, clocks_[i].value.load(std::memory_order_acquire));
      return m;
    }

    // Waits until every running worker's clock is at least `target`; returns the slowest's.
    std::uint64_t wait_for_clock(std::size_t id, std::uint64_t target) {
      const std::uint64_t own = clocks_[id].value.load(std::memory_order_relaxed);
      for (;;) {
        const std::uint64_t seen = ticks_.value.load(std::memory_order_acquire);
        const std::uint64_t m = slowest(own);
        if (m >= target) return m;
        detail::wait_for_change(ticks_.value, seen, std::memory_order_acquire);
      }
    }

    // Waits until the slowest running worker is at most `bound_` updates behind; returns its clock.
    std::uint64_t wait_for_slowest(std::size_t id) {
      const std::uint64_t own = clocks_[id].value.load(std::memory_order_relaxed);
      const std::uint64_t slowest_clock = wait_for_clock(id, own > bound_ ? own - bound_ : 0);
      const std::uint64_t lead = own - slowest_clock;
      std::uint64_t prev = max_lead_.load(std::memory_order_relaxed);
      while (lead > prev && !max_lead_.compare_exchange_weak(prev, lead, std::memory_order_relaxed)) {
      }
      return slowest_clock;
    }

    base base_;
    std::size_t bound_;
    std::size_t workers_;
    std::unique_ptr<detail::padded<std::atomic<std::uint64_t>>[]> clocks_;
    detail::padded<std::atomic<std::uint64_t>> ticks_{};
    std::atomic<std::uint64_t> max_lead_{0};
  };

  friend bool operator==(const bounded_staleness&, const bounded_staleness&) = default;
  friend std::ostream& operator<<(std::ostream& os, const bounded_staleness& m) {
    return os << "bounded_staleness{.bound = " << m.bound << '}';
  }
};

}  // namespace asgd::inline v0::consistency
