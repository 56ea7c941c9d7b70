#pragma once
// Internal: a lock-free stack of small integers (Treiber), the free list of Leashed-SGD's model
// buffers.
//
// Boost.Lockfree's stack would do, but its free list reads a node's `next` field without an
// atomic while another thread may write it; the algorithm tolerates that, but C++ calls it a
// data race and ThreadSanitizer reports it. Here every shared field is atomic.

#include <asgd/version.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace asgd::inline v0::detail {

class index_stack {
 public:
  /// Holds indices in [0, capacity); each index may be in the stack at most once.
  explicit index_stack(std::size_t capacity)
      : capacity_(capacity), next_(std::make_unique<std::atomic<std::uint32_t>[]>(capacity)) {}

  void push(std::uint32_t i) noexcept {
    std::uint64_t old = head_.load(std::memory_order_relaxed);
    std::uint64_t desired = 0;
    do {
      next_[i].store(top_of(old), std::memory_order_relaxed);
      desired = pack(i + 1, tag_of(old) + 1);
    } while (!head_.compare_exchange_weak(old, desired, std::memory_order_release, std::memory_order_relaxed));
  }

  /// Pops into `i`; false when the stack is empty.
  bool pop(std::uint32_t& i) noexcept {
    std::uint64_t old = head_.load(std::memory_order_acquire);
    std::uint64_t desired = 0;
    do {
      if (top_of(old) == 0) return false;
      // May read a stale link if the top was popped and pushed again meanwhile; the tag then
      // differs and the CAS fails (no ABA).
      desired = pack(next_[top_of(old) - 1].load(std::memory_order_relaxed), tag_of(old) + 1);
    } while (!head_.compare_exchange_weak(old, desired, std::memory_order_acquire, std::memory_order_acquire));
    i = top_of(old) - 1;
    return true;
  }

  /// The indices in the stack, counted along its links: only while no thread pushes or pops.
  [[nodiscard]] std::size_t size_at_rest() const noexcept {
    std::size_t n = 0;
    for (std::uint32_t top = top_of(head_.load(std::memory_order_acquire)); top != 0 && n < capacity_; ++n) {
      top = next_[top - 1].load(std::memory_order_relaxed);
    }
    return n;
  }

 private:
  // head: low 32 bits the top index + 1 (0 = empty), high 32 bits a tag bumped by every change.
  static constexpr std::uint64_t pack(std::uint32_t top, std::uint32_t tag) noexcept {
    return (std::uint64_t{tag} << 32) | top;
  }
  static constexpr std::uint32_t top_of(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h); }
  static constexpr std::uint32_t tag_of(std::uint64_t h) noexcept { return static_cast<std::uint32_t>(h >> 32); }

  std::size_t capacity_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> next_;  // link below each index (top + 1 form)
  std::atomic<std::uint64_t> head_{0};
};

}  // namespace asgd::inline v0::detail
