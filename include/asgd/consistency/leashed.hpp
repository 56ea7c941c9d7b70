#pragma once
/// @file
/// Leashed-SGD: consistent, lock-free AsyncSGD over immutable published model versions.

#include <asgd/detail/index_stack.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace asgd::inline v0::consistency {

/// Leashed-SGD (Backstrom, Walulya, Papatriantafilou, Tsigas; IPDPS 2021).
///
/// The shared model is a pointer to an immutable version. A worker computes its gradient
/// directly on the version it pinned (no copy), then builds the next version in a private
/// buffer (a copy of the newest version plus its update) and publishes it with one
/// compare-and-swap. If another worker published first, it rebuilds on the newer version and
/// tries again, at most `persistence` times; then the gradient is dropped.
///
/// Reclamation is safe: the published word packs the version's slot with an external count
/// of the pins taken through it, so loading the pointer and pinning the version is one atomic
/// fetch_add (split reference counts). Leashed-SGD's own code increments a reader count after
/// loading the pointer, leaving a window in which the version can be freed; this cannot
/// happen here. Freed versions go back to a lock-free stack of buffers, never to the OS.
///
/// Guarantees: every gradient is computed on a consistent version; each published version
/// applies exactly one update to its predecessor (versions 0, 1, 2, ... with no gap, so the
/// staleness is exact); lock-free (a failed CAS means another worker succeeded); at most
/// 2 * workers + 1 model buffers exist at once (each worker pins at most one version and builds
/// at most one; plus the published one; a node's averager counts as one more worker). An
/// averaging round's mix is published like an update: a new version, by CAS, never dropped. Non-guarantees: dropped gradients (finite
/// persistence) are lost, though their momentum has moved; every update costs a full model
/// copy, so sparse problems lose their sparsity here.
struct leashed {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "leashed";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;

  /// `persistence` value that never drops a gradient (the paper's default).
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  /// Failed publications tolerated before a gradient is dropped (the paper's B). 0 drops the
  /// gradient at its first failure.
  std::size_t persistence = unbounded;

  /// Abandon building a version as soon as another worker has published (checked every 16 Ki
  /// parameters), as the code's `-C` option does; saves copying on large models. Such an
  /// attempt counts as a failed publication.
  bool check_concurrent_updates = false;

  class store;

  friend bool operator==(const leashed&, const leashed&) = default;
  friend std::ostream& operator<<(std::ostream& os, const leashed& m) {
    os << "leashed{.persistence = ";
    if (m.persistence == unbounded)
      os << "unbounded";
    else
      os << m.persistence;
    return os << ", .check_concurrent_updates = " << (m.check_concurrent_updates ? "true" : "false") << '}';
  }
};

class leashed::store {
  using slot_id = std::uint32_t;
  static constexpr slot_id no_slot = std::numeric_limits<slot_id>::max();
  static constexpr std::uint64_t one_pin = std::uint64_t{1} << 32;
  static constexpr std::size_t check_every = std::size_t{16} << 10;

 public:
  /// A worker's direction buffer and the buffer it is building (kept across steps when a
  /// gradient is dropped).
  struct worker {
    detail::float_buffer direction;
    slot_id building = no_slot;
  };

  /// A pinned version; unpins when destroyed unless apply() already did.
  class pinned {
   public:
    pinned(const store* s, slot_id id) noexcept : store_(s), id_(id) {}
    pinned(pinned&& o) noexcept : store_(o.store_), id_(std::exchange(o.id_, no_slot)) {}
    pinned& operator=(pinned&&) = delete;
    ~pinned() { release(); }

    [[nodiscard]] std::span<const float> values() const noexcept { return store_->slots_[id_].data.span(); }
    [[nodiscard]] model_reader reader() const noexcept { return model_reader(values()); }
    [[nodiscard]] std::uint64_t version() const noexcept { return store_->slots_[id_].version; }
    void release() noexcept {
      if (id_ != no_slot) store_->unpin(std::exchange(id_, no_slot));
    }

   private:
    const store* store_;
    slot_id id_;
  };

  store(const leashed& mode, const store_config& config, std::span<const float> initial)
      : mode_(mode),
        dimension_(config.dimension),
        capacity_(2 * (config.workers + config.averagers) + 1),
        slots_(std::make_unique<slot[]>(capacity_)),
        free_(capacity_),
        mixer_{config.averagers > 0 ? detail::float_buffer(config.dimension) : detail::float_buffer(), no_slot} {
    const slot_id first = take_slot();
    std::copy(initial.begin(), initial.end(), slots_[first].data.data());
    slots_[first].version = 0;
    head_.store(pack(first, 0), std::memory_order_release);
  }

  store(const store&) = delete;
  store& operator=(const store&) = delete;

  worker make_worker(std::size_t /*id*/) const { return {detail::float_buffer(dimension_), no_slot}; }

  pinned read(worker& /*w*/) const noexcept { return {this, pin_current()}; }
  pinned read_sparse(worker& /*w*/) const noexcept { return {this, pin_current()}; }

  template <class Dir, class Lr>
  apply_result apply(worker& w, pinned& h, param_range r, std::span<const float> g, Dir&& dir, Lr&& lr) {
    // Directions once, from the version the gradient saw; every attempt reuses them.
    detail::directions(r, g, h.values(), dir, w.direction.data());
    const float* d = w.direction.data();
    // Builds [lo, hi) of the new version: a copy, with the update fused in over `r`.
    auto build = [r, d](const float* from, float* to, float step, std::size_t lo, std::size_t hi) {
      const std::size_t a = std::clamp(r.begin, lo, hi);
      const std::size_t b = std::clamp(r.end, lo, hi);
      std::copy(from + lo, from + a, to + lo);
      for (std::size_t i = a; i < b; ++i) to[i] = from[i] - step * d[i - r.begin];
      std::copy(from + b, from + hi, to + b);
    };
    const std::uint64_t read_version = h.version();
    h.release();
    return publish(w, read_version, build, lr, mode_.persistence);
  }

  template <class Dir, class Lr>
  apply_result apply_sparse(worker& w, pinned& h, std::span<const std::uint32_t> idx, std::span<const float> g,
                            Dir&& dir, Lr&& lr) {
    const auto x = h.values();
    float* d = w.direction.data();
    for (std::size_t k = 0; k < idx.size(); ++k) d[k] = dir(idx[k], g[k], x[idx[k]]);
    const std::size_t dim = dimension_;
    auto build = [idx, d, dim](const float* from, float* to, float step, std::size_t lo, std::size_t hi) {
      std::copy(from + lo, from + hi, to + lo);
      if (hi != dim) return;
      for (std::size_t k = 0; k < idx.size(); ++k) to[idx[k]] -= step * d[k];
    };
    const std::uint64_t read_version = h.version();
    h.release();
    return publish(w, read_version, build, lr, mode_.persistence);
  }

  void finish(worker& w) noexcept {
    if (w.building != no_slot) recycle(std::exchange(w.building, no_slot));
  }

  /// Publishes the newest version plus `delta` (an averaging round's mix), retrying until its
  /// CAS succeeds. One averager thread at a time (the store was built with averagers = 1).
  void mix(std::span<const float> delta) {
    if (mixer_.direction.size() != dimension_) {
      throw std::logic_error("asgd: leashed store built without an averager (store_config.averagers = 0) was asked to mix");
    }
    const float* d = delta.data();
    auto build = [d](const float* from, float* to, float /*step*/, std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) to[i] = from[i] + d[i];
    };
    auto unit = [](std::uint64_t) { return 1.0; };
    (void)publish(mixer_, 0, build, unit, unbounded);
    finish(mixer_);
  }

  /// Copies the newest version (a consistent model).
  void copy_to(std::span<float> out) const noexcept {
    const pinned p(this, pin_current());
    std::copy_n(p.values().data(), dimension_, out.data());
  }

  /// The newest version's number: the count of updates published so far.
  [[nodiscard]] std::uint64_t version() const noexcept { return pinned(this, pin_current()).version(); }

  [[nodiscard]] store_stats stats() const noexcept {
    return {peak_live_.load(std::memory_order_relaxed),
            std::min<std::size_t>(next_unused_.load(std::memory_order_relaxed), capacity_)};
  }

  /// Model buffers alive now (published, pinned or being built).
  [[nodiscard]] std::size_t live_versions() const noexcept { return live_.load(std::memory_order_relaxed); }

 private:
  struct alignas(detail::cache_line) slot {
    // Unpins minus the pins that were counted in the published word: it is handed those pins
    // when a successor replaces the version, and the version is recycled when it reaches zero.
    std::atomic<std::int64_t> internal{0};
    std::uint64_t version = 0;
    detail::float_buffer data;
  };

  static constexpr std::uint64_t pack(slot_id id, std::uint32_t pins) noexcept {
    return (std::uint64_t{pins} << 32) | id;
  }
  static constexpr slot_id id_of(std::uint64_t word) noexcept { return static_cast<slot_id>(word); }
  static constexpr std::int64_t pins_of(std::uint64_t word) noexcept { return static_cast<std::int64_t>(word >> 32); }

  // One fetch_add both reads the published slot and counts a pin on it: there is no moment in
  // which the slot could be recycled between the two. Acquire pairs with the publishing CAS.
  // (The 32-bit pin count would wrap after 2^32 pins of one version without a publication.)
  slot_id pin_current() const noexcept { return id_of(head_.fetch_add(one_pin, std::memory_order_acquire)); }

  void unpin(slot_id id) const noexcept {
    if (slots_[id].internal.fetch_sub(1, std::memory_order_acq_rel) == 1) recycle(id);
  }

  // Builds the successor of the newest version and publishes it, until one CAS succeeds or the
  // persistence bound is spent.
  // The caller has released its read pin: from here on it pins at most one version and builds
  // at most one.
  template <class Build, class Lr>
  apply_result publish(worker& w, std::uint64_t read_version, Build& build, Lr& lr, std::size_t max_failures) {
    if (w.building == no_slot) w.building = take_slot();
    slot& next = slots_[w.building];
    const std::size_t chunk = mode_.check_concurrent_updates ? check_every : dimension_;
    std::uint32_t failures = 0;
    for (;;) {
      const slot_id current = pin_current();
      const slot& cur = slots_[current];
      const std::uint64_t tau = cur.version - read_version;
      const auto step = static_cast<float>(lr(tau));
      bool overtaken = false;
      for (std::size_t lo = 0; lo < dimension_ && !overtaken; lo += chunk) {
        build(cur.data.data(), next.data.data(), step, lo, std::min(lo + chunk, dimension_));
        overtaken = mode_.check_concurrent_updates && id_of(head_.load(std::memory_order_relaxed)) != current;
      }
      if (!overtaken) {
        next.version = cur.version + 1;
        if (try_replace(current, w.building)) {
          w.building = no_slot;
          return {true, tau, failures};
        }
      }
      unpin(current);
      ++failures;
      if (failures > max_failures) return {false, tau, failures};
    }
  }

  // Replaces `current` (pinned by the caller) by `next`. A CAS that fails only because another
  // worker pinned `current` meanwhile is retried; one that finds another slot is a conflict.
  bool try_replace(slot_id current, slot_id next) noexcept {
    std::uint64_t word = head_.load(std::memory_order_relaxed);
    while (id_of(word) == current) {
      if (head_.compare_exchange_weak(word, pack(next, 0), std::memory_order_acq_rel, std::memory_order_relaxed)) {
        // Hand the pins counted in the word over to the slot's own count, less our own pin,
        // which ends here. Whoever brings the count to zero recycles the slot.
        const std::int64_t transfer = pins_of(word) - 1;
        if (slots_[current].internal.fetch_add(transfer, std::memory_order_acq_rel) + transfer == 0) recycle(current);
        return true;
      }
    }
    return false;
  }

  slot_id take_slot() {
    slot_id id = no_slot;
    if (!free_.pop(id)) {
      const std::size_t fresh = next_unused_.fetch_add(1, std::memory_order_relaxed);
      if (fresh >= capacity_) {
        // Unreachable while each worker pins at most one version and builds at most one.
        throw std::logic_error("asgd: leashed store needs more than 2 * (workers + averagers) + 1 = " +
                               std::to_string(capacity_) +
                               " model versions; this is a bug in asgd");
      }
      id = static_cast<slot_id>(fresh);
      slots_[id].data = detail::float_buffer(dimension_);
    }
    slots_[id].internal.store(0, std::memory_order_relaxed);
    const std::size_t live = live_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::size_t peak = peak_live_.load(std::memory_order_relaxed);
    while (live > peak && !peak_live_.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
    }
    return id;
  }

  void recycle(slot_id id) const noexcept {
    live_.fetch_sub(1, std::memory_order_relaxed);
    free_.push(id);
  }

  leashed mode_;
  std::size_t dimension_;
  std::size_t capacity_;
  std::unique_ptr<slot[]> slots_;
  mutable detail::index_stack free_;
  alignas(detail::cache_line) mutable std::atomic<std::uint64_t> head_{0};
  alignas(detail::cache_line) std::atomic<std::size_t> next_unused_{0};
  mutable std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_live_{0};
  worker mixer_;  // the averager's building buffer (its direction buffer only marks it present)
};

}  // namespace asgd::inline v0::consistency
