#pragma once
// Internal: cache-line padding, per-worker counters, and the aligned, pre-faulted model buffers every store uses.

#include <asgd/version.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace asgd::inline v0::detail {

/// Bytes per cache line on the machines we target; per-thread counters are padded to it
/// because false sharing between the two cores costs 3.5x (docs/performance.md, "The machine").
inline constexpr std::size_t cache_line = 64;

/// A value alone on its cache line.
template <class T>
struct alignas(cache_line) padded {
  T value{};
};

/// Allocates on cache-line boundaries. Vectorised code (Eigen's) peels a different number of
/// leading elements, and so sums in a different order, for each alignment of its buffers: a
/// buffer that lands wherever malloc puts it makes a run's floats depend on the heap. Buffers
/// a computation reads and writes, allocated with this, give the same result on every run.
template <class T>
struct cache_aligned_allocator {
  using value_type = T;
  cache_aligned_allocator() noexcept = default;
  template <class U>
  cache_aligned_allocator(const cache_aligned_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{cache_line}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{cache_line}); }
  template <class U>
  friend bool operator==(const cache_aligned_allocator&, const cache_aligned_allocator<U>&) noexcept {
    return true;
  }
};

/// A float vector on cache-line boundaries (see cache_aligned_allocator).
using aligned_floats = std::vector<float, cache_aligned_allocator<float>>;

/// One count per worker, each on its own cache line: a worker bumps its own without writing a
/// line another worker writes; reading the sum costs a cache miss per other worker. Relaxed:
/// the counts order nothing.
class worker_counters {
 public:
  explicit worker_counters(std::size_t workers)
      : n_(workers), counts_(std::make_unique<padded<std::atomic<std::uint64_t>>[]>(workers)) {}
  /// Worker `id`'s count plus one, stored with `order`; returns the new count. Only that worker
  /// calls it.
  std::uint64_t bump(std::size_t id, std::memory_order order = std::memory_order_relaxed) noexcept {
    const std::uint64_t v = get(id) + 1;
    set(id, v, order);
    return v;
  }
  void set(std::size_t id, std::uint64_t v, std::memory_order order = std::memory_order_relaxed) noexcept {
    counts_[id].value.store(v, order);
  }
  [[nodiscard]] std::uint64_t get(std::size_t id, std::memory_order order = std::memory_order_relaxed) const noexcept {
    return counts_[id].value.load(order);
  }
  [[nodiscard]] std::uint64_t sum(std::memory_order order = std::memory_order_relaxed) const noexcept {
    std::uint64_t s = 0;
    for (std::size_t i = 0; i < n_; ++i) s += get(i, order);
    return s;
  }

 private:
  std::size_t n_;
  std::unique_ptr<padded<std::atomic<std::uint64_t>>[]> counts_;
};

/// Asks for transparent huge pages on the 2 MiB-aligned part of [data, data + bytes), before its
/// first touch: a fresh 4 KiB page costs 12 us to touch on this VM, a huge page 50x less per byte
/// (docs/performance.md). Advice only: without THP, or for less than 2 MiB, nothing changes.
inline void advise_huge_pages([[maybe_unused]] const void* data, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t huge = std::uintptr_t{2} << 20;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + huge - 1) / huge * huge;
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) / huge * huge;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

/// `v` resized to `n` value-initialised elements, its storage advised to huge pages first when
/// it is allocated here: a large vector then costs about a memset, not a page fault per 4 KiB.
template <class T>
void resize_on_huge_pages(std::vector<T>& v, std::size_t n) {
  if (n > v.capacity()) {
    std::vector<T> fresh;
    fresh.reserve(n);  // a fresh mapping for large n, not yet touched
    advise_huge_pages(fresh.data(), n * sizeof(T));
    fresh.assign(v.begin(), v.end());
    v.swap(fresh);
  }
  v.resize(n);
}

/// A zero-initialised float array, 64-byte aligned, and 2 MiB aligned with transparent huge
/// pages requested when it is at least 2 MiB: the first touch of a fresh 4 KiB page costs
/// 12 us on this VM and a huge page 50x less per byte (docs/performance.md). Pages are touched
/// here, at construction, so no step pays for them.
class float_buffer {
 public:
  float_buffer() = default;
  explicit float_buffer(std::size_t n) : size_(n) {
    if (n == 0) return;
    constexpr std::size_t huge = std::size_t{2} << 20;
    const std::size_t bytes = n * sizeof(float);
    const std::size_t align = bytes >= huge ? huge : cache_line;
    const std::size_t rounded = (bytes + align - 1) / align * align;
    void* p = std::aligned_alloc(align, rounded);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == huge) ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only; failure is harmless
#endif
    std::memset(p, 0, rounded);
    data_.reset(static_cast<float*>(p));
  }

  [[nodiscard]] float* data() noexcept { return data_.get(); }
  [[nodiscard]] const float* data() const noexcept { return data_.get(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<float> span() noexcept { return {data_.get(), size_}; }
  [[nodiscard]] std::span<const float> span() const noexcept { return {data_.get(), size_}; }

 private:
  struct free_deleter {
    void operator()(float* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<float, free_deleter> data_;
  std::size_t size_ = 0;
};

}  // namespace asgd::inline v0::detail
