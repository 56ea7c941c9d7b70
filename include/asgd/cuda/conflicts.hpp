#pragma once
/// @file
/// Counts write conflicts between the workers of one GPU: how often a worker began writing a
/// range of the model while another worker's write to an overlapping range was still in flight
/// (from its launch until the worker saw its stream finish). This is what block selection is
/// meant to avoid; the counter shows what it buys. Host code only (workers are host threads).

#include <asgd/detail/memory.hpp>
#include <asgd/types.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

namespace asgd::inline v0::cuda {

class conflict_counter {
 public:
  /// For `workers` workers, each writing ranges of a model of fewer than 2^32 coordinates.
  explicit conflict_counter(std::size_t workers) : workers_(workers), writing_(std::make_unique<slot[]>(workers)) {}

  /// Worker `w` begins writing `r`: counts each other worker writing an overlapping range now
  /// (one conflict per pair) and returns how many it found.
  std::size_t begin(std::size_t w, param_range r) {
    if (w >= workers_) throw std::out_of_range("asgd: cuda::conflict_counter: worker " + std::to_string(w) + " of " + std::to_string(workers_));
    if (r.end > std::numeric_limits<std::uint32_t>::max()) {
      throw std::out_of_range("asgd: cuda::conflict_counter: ranges end below 2^32");
    }
    // seq_cst on both sides: of two workers beginning at once, at least one sees the other.
    writing_[w].range.store(pack(r), std::memory_order_seq_cst);
    std::size_t found = 0;
    for (std::size_t o = 0; o < workers_; ++o) {
      if (o == w) continue;
      const std::uint64_t other = writing_[o].range.load(std::memory_order_seq_cst);
      if (other != idle && begin_of(other) < r.end && r.begin < end_of(other)) ++found;
    }
    total_.fetch_add(found, std::memory_order_relaxed);
    return found;
  }

  /// Worker `w`'s write has finished.
  void end(std::size_t w) noexcept { writing_[w].range.store(idle, std::memory_order_seq_cst); }

  /// Conflicts counted so far: for each write, the overlapping writes it found in flight when
  /// it began. (Two writes beginning at the same moment may each find the other.)
  [[nodiscard]] std::uint64_t total() const noexcept { return total_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::uint64_t idle = 0;  // an empty range [0, 0): overlaps nothing
  static std::uint64_t pack(param_range r) noexcept { return (std::uint64_t{r.begin} << 32) | r.end; }
  static std::size_t begin_of(std::uint64_t v) noexcept { return static_cast<std::size_t>(v >> 32); }
  static std::size_t end_of(std::uint64_t v) noexcept { return static_cast<std::size_t>(v & 0xffff'ffffu); }

  struct alignas(asgd::detail::cache_line) slot {
    std::atomic<std::uint64_t> range{idle};
  };
  std::size_t workers_;
  std::unique_ptr<slot[]> writing_;
  std::atomic<std::uint64_t> total_{0};
};

}  // namespace asgd::inline v0::cuda
