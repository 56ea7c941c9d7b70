#pragma once
// Internal: the published-version protocol of Leashed-SGD, for any kind of model buffer. The
// host store (consistency/leashed.hpp) keeps its versions in host memory; the device store
// (cuda/store.cuh) keeps them in device memory. Both pin, build, publish and recycle
// versions through this class, so the protocol is tested once, on the host, under ThreadSanitizer.
//
// The published word packs the version's slot with an external count of the pins taken through
// it, so loading the pointer and pinning the version is one atomic fetch_add (split reference
// counts): there is no moment in which a version could be recycled between the two. A slot's
// internal count holds unpins minus the pins handed over when a successor replaced it; the slot
// is recycled when that count reaches zero. Freed slots go back to a lock-free stack, never to
// the allocator.

#include <asgd/detail/event_log.hpp>
#include <asgd/detail/index_stack.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace asgd::inline v0::detail {

/// `Buffer` owns one model version: `Buffer(n)` allocates n floats, `data()` points at them.
template <class Buffer>
class version_chain {
 public:
  using slot_id = std::uint32_t;
  static constexpr slot_id no_slot = std::numeric_limits<slot_id>::max();

  /// A pinned version: its buffer stays as it is until the pin is released (or destroyed).
  class pin {
   public:
    pin(const version_chain* c, slot_id id) noexcept : chain_(c), id_(id) {}
    pin(pin&& o) noexcept : chain_(o.chain_), id_(std::exchange(o.id_, no_slot)) {}
    pin& operator=(pin&&) = delete;
    ~pin() { release(); }

    [[nodiscard]] const float* data() const noexcept { return chain_->data(id_); }
    [[nodiscard]] std::uint64_t version() const noexcept { return chain_->version(id_); }
    void release() noexcept {
      if (id_ != no_slot) chain_->unpin(std::exchange(id_, no_slot));
    }

   private:
    friend class version_chain;  // publish takes the pin over
    const version_chain* chain_;
    slot_id id_;
  };

  /// At most `capacity` versions alive at once, each of `dimension` floats; the first version
  /// (number 0) is a buffer the caller fills through `first`.
  template <class Fill>
  version_chain(std::size_t capacity, std::size_t dimension, Fill&& first)
      : capacity_(capacity), dimension_(dimension), slots_(std::make_unique<slot[]>(capacity)), free_(capacity) {
    const slot_id id = take();
    first(slots_[id].data.data());
    slots_[id].version = 0;
    head_.store(pack(id, 0), std::memory_order_release);
  }

  version_chain(const version_chain&) = delete;
  version_chain& operator=(const version_chain&) = delete;

  /// Pins the newest version. (Not noexcept: a replaying worker may find its run diverged.)
  [[nodiscard]] pin current() const { return {this, pin_current()}; }
  [[nodiscard]] std::size_t dimension() const noexcept { return dimension_; }

  /// Builds the successor of the newest version in the caller's slot `building` (taken when it
  /// is `no_slot`) and publishes it by compare-and-swap, until one CAS succeeds or
  /// `max_failures` have failed. `read` pins the version the update was computed on (the
  /// staleness counts from it); publish takes that pin over and ends it. When the first attempt
  /// builds on that version (it is still the newest), `from` is its buffer; otherwise
  /// `leaving()` is called first, while the version is still pinned, to take what the caller
  /// still needs of it (later attempts build on newer versions). `build(from, to, step,
  /// from_slot)` writes the new version from the newest one, with `step = lr(staleness)`; it
  /// returns false when it gave up because `from_slot` is no longer current (see is_current;
  /// counts as a failure), and must have finished writing when it returns true. On success
  /// `building` holds the version just replaced when this publication freed it (the caller's
  /// next building slot: no trip through the shared free list), else `no_slot`; on a drop it
  /// keeps its slot. An exception from `build` or `lr` leaves no pin and `building` kept
  /// (recycle_building).
  template <class Leaving, class Build, class Lr>
  apply_result publish(slot_id& building, pin& read, Leaving&& leaving, Build& build, Lr& lr, std::size_t max_failures) {
    const std::uint64_t read_version = read.version();
    return publish_from(building, std::exchange(read.id_, no_slot), read_version, leaving, build, lr, max_failures);
  }

  /// The same for a caller that needs nothing more of the version it read.
  template <class Build, class Lr>
  apply_result publish(slot_id& building, pin& read, Build& build, Lr& lr, std::size_t max_failures) {
    return publish(building, read, [] {}, build, lr, max_failures);
  }

  /// The same for a change read from no version (an averaging round's mix): its staleness
  /// counts from version 0.
  template <class Build, class Lr>
  apply_result publish(slot_id& building, Build& build, Lr& lr, std::size_t max_failures) {
    return publish_from(building, no_slot, 0, [] {}, build, lr, max_failures);
  }

  /// True while `id` is the published version (a relaxed look, for a builder giving up early).
  [[nodiscard]] bool is_current(slot_id id) const noexcept { return id_of(head_.load(std::memory_order_relaxed)) == id; }

  /// Gives back a slot that `publish` left in `building` (a dropped update's).
  void recycle_building(slot_id& building) noexcept {
    if (building != no_slot) recycle(std::exchange(building, no_slot));
  }

  /// A buffer is allocated only when none is free, so the buffers allocated are the most that
  /// were in use at once (published, pinned, being built or being recycled): the peak is not
  /// counted apart. (A count of live versions, two read-modify-writes of one line that every
  /// worker wrote on every step, cost 12-13 ns of Leashed-SGD's 90 ns step on one worker.)
  [[nodiscard]] store_stats stats() const noexcept { return {allocated(), allocated()}; }
  /// Versions alive now (published, pinned or being built): the buffers allocated less the free
  /// ones. Only while no thread uses the chain.
  [[nodiscard]] std::size_t live() const noexcept { return allocated() - free_.size_at_rest(); }

 private:
  template <class Leaving, class Build, class Lr>
  apply_result publish_from(slot_id& building, slot_id held, std::uint64_t read_version, Leaving&& leaving, Build& build,
                            Lr& lr, std::size_t max_failures) {
    // When the version the update read is still the newest (every step of a lone worker), its
    // pin serves the build and the CAS: an unpin and a new pin fewer, two read-modify-writes of
    // shared lines. A recorded or replayed run pins again, where its log expects a pin.
    slot_id reuse = no_slot;
    if (held != no_slot) {
      if (logged() == nullptr && is_current(held)) {
        reuse = held;
      } else {
        try {
          leaving();
        } catch (...) {
          unpin(held);
          throw;
        }
        unpin(held);
      }
    }
    if (building == no_slot) {
      try {
        building = take();
      } catch (...) {
        if (reuse != no_slot) unpin(reuse);
        throw;
      }
    }
    slot& next = slots_[building];
    std::uint32_t failures = 0;
    for (;;) {
      const slot_id current = reuse != no_slot ? std::exchange(reuse, no_slot) : pin_current();
      const slot& cur = slots_[current];
      const std::uint64_t tau = cur.version - read_version;
      bool built = false;
      try {
        built = build(static_cast<const float*>(cur.data.data()), next.data.data(), static_cast<float>(lr(tau)), current);
      } catch (...) {
        unpin(current);  // a failed build (a CUDA launch, say) must not keep the version forever
        throw;
      }
      if (built) {
        next.version = cur.version + 1;
        if (slot_id freed = no_slot; try_replace(current, building, freed)) {
          building = freed;
          return {true, tau, failures};
        }
      }
      unpin(current);
      ++failures;
      if (failures > max_failures) return {false, tau, failures};
    }
  }

  static constexpr std::uint64_t one_pin = std::uint64_t{1} << 32;

  [[nodiscard]] std::size_t allocated() const noexcept {
    return std::min<std::size_t>(next_unused_.load(std::memory_order_relaxed), capacity_);
  }

  struct alignas(cache_line) slot {
    std::atomic<std::int64_t> internal{0};
    std::uint64_t version = 0;
    Buffer data;
  };

  static constexpr std::uint64_t pack(slot_id id, std::uint32_t pins) noexcept { return (std::uint64_t{pins} << 32) | id; }
  static constexpr slot_id id_of(std::uint64_t word) noexcept { return static_cast<slot_id>(word); }
  static constexpr std::int64_t pins_of(std::uint64_t word) noexcept { return static_cast<std::int64_t>(word >> 32); }

  [[nodiscard]] const float* data(slot_id id) const noexcept { return slots_[id].data.data(); }
  [[nodiscard]] std::uint64_t version(slot_id id) const noexcept { return slots_[id].version; }

  // Acquire pairs with the publishing CAS. (The 32-bit pin count would wrap after 2^32 pins of
  // one version without a publication.)
  slot_id pin_current() const {
    charge_atomic(&head_);
    event_log* const log = logged();
    if (log != nullptr && log->replaying()) [[unlikely]] {
      // The head's word takes its values in one order (its modification order); each pin and
      // each winning publication logged where in it it came, and waits here for that place.
      const event_log::entry& e = log->next(replay_event::pin);
      replay_wait(&head_, [&] { return head_at(e.a, e.b); });
      const slot_id id = id_of(head_.fetch_add(one_pin, std::memory_order_acquire));
      replay_moved(&head_);
      return id;
    }
    const std::uint64_t word = head_.fetch_add(one_pin, std::memory_order_acquire);
    if (log != nullptr) [[unlikely]]
      log->add(replay_event::pin, slots_[id_of(word)].version, static_cast<std::uint64_t>(pins_of(word)));
    return id_of(word);
  }

  // In a replay (one task runs at a time): whether the head is version `version` with `pins`
  // pins taken through its word.
  [[nodiscard]] bool head_at(std::uint64_t version, std::uint64_t pins) const noexcept {
    const std::uint64_t word = head_.load(std::memory_order_relaxed);
    return slots_[id_of(word)].version == version && static_cast<std::uint64_t>(pins_of(word)) == pins;
  }

  void unpin(slot_id id) const noexcept {
    if (slots_[id].internal.fetch_sub(1, std::memory_order_acq_rel) == 1) recycle(id);
  }

  // Replaces `current` (pinned by the caller) by `next`. A CAS that fails only because another
  // worker pinned `current` meanwhile is retried; one that finds another slot is a conflict.
  // `freed` receives `current` when this publication ended its last pin (the caller reuses it).
  bool try_replace(slot_id current, slot_id next, slot_id& freed) {
    charge_atomic(&head_);
    event_log* const log = logged();
    if (log != nullptr && log->replaying()) [[unlikely]] {
      // A win waits for its place (the pins the replaced version had); a loss, for the version
      // it built on to be replaced.
      const event_log::entry& e = log->next(replay_event::publish);
      const std::uint64_t version = slots_[current].version;
      if (e.a != 0) {
        replay_wait(&head_, [&] { return head_at(version, e.b); });
      } else {
        replay_wait(&head_, [&] { return id_of(head_.load(std::memory_order_relaxed)) != current; });
      }
    }
    std::uint64_t word = head_.load(std::memory_order_relaxed);
    while (id_of(word) == current) {
      if (head_.compare_exchange_weak(word, pack(next, 0), std::memory_order_acq_rel, std::memory_order_relaxed)) {
        if (log != nullptr) [[unlikely]] {
          if (log->replaying()) {
            replay_moved(&head_);
          } else {
            log->add(replay_event::publish, 1, static_cast<std::uint64_t>(pins_of(word)));
          }
        }
        // Hand the pins counted in the word over to the slot's own count, less our own pin,
        // which ends here. Whoever brings the count to zero frees the slot. When ours was the
        // only pin taken through the word, no one else can unpin the slot and its count is
        // zero: it is free without a read-modify-write.
        const std::int64_t transfer = pins_of(word) - 1;
        if (transfer == 0 || slots_[current].internal.fetch_add(transfer, std::memory_order_acq_rel) + transfer == 0) {
          freed = current;
        }
        return true;
      }
    }
    if (log != nullptr && !log->replaying()) [[unlikely]]
      log->add(replay_event::publish, 0);
    return false;
  }

  slot_id take() {
    slot_id id = no_slot;
    if (!free_.pop(id)) {
      const std::size_t fresh = next_unused_.fetch_add(1, std::memory_order_relaxed);
      if (fresh >= capacity_) {
        // Unreachable while the threads using the store are those it was sized for: each worker
        // or averager pins at most one version and builds at most one, each reader pins one.
        throw std::logic_error("asgd: a versioned store (Leashed-SGD) needs more than the " + std::to_string(capacity_) +
                               " model versions it was built for (2 * (workers + averagers) + 1 + readers): more "
                               "threads read or update it at once than its store_config counts; count the threads "
                               "that call copy_to while workers run in store_config::readers");
      }
      id = static_cast<slot_id>(fresh);
      slots_[id].data = Buffer(dimension_);
    }
    slots_[id].internal.store(0, std::memory_order_relaxed);
    return id;
  }

  void recycle(slot_id id) const noexcept { free_.push(id); }

  std::size_t capacity_;
  std::size_t dimension_;
  std::unique_ptr<slot[]> slots_;
  mutable index_stack free_;
  alignas(cache_line) mutable std::atomic<std::uint64_t> head_{0};
  alignas(cache_line) std::atomic<std::size_t> next_unused_{0};
};

}  // namespace asgd::inline v0::detail
