#pragma once
/// @file
/// Filling a buffer that another core reads next with streaming (non-temporal) stores.
///
/// A buffer written with ordinary stores stays modified in the writer's cache, and a reader on
/// another core then takes it line by line from there, one hand-over at a time. Streaming stores
/// send whole lines to memory without reading them first, so the writer pays no read for
/// ownership and the reader streams the lines from memory with the prefetchers' help. On a
/// 2-vCPU x86 VM whose cores share no cache level, two workers trained the MLP 1.12-1.17x
/// faster this way with Leashed-SGD's versions (each built by one worker, then read by the
/// other) and 1.32x with `synchronous`'s slices (docs/performance.md). The writer's own next
/// read comes from memory too, so a buffer that its writer reads next is better written
/// plainly; and each call ends with a fence, which waits for the stores to drain: one call per
/// buffer, not per block.

#include <asgd/detail/racy.hpp>  // ASGD_DETAIL_TSAN

#include <algorithm>
#include <cstddef>
#include <cstdint>

// ThreadSanitizer does not see intrinsic stores; its builds keep the plain path so that every
// write it checks is one it sees.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDA_ARCH__) && \
    !defined(ASGD_DETAIL_TSAN)
#include <xmmintrin.h>  // SSE only: _mm_stream_ps, _mm_sfence (immintrin.h would cost a user TU 0.5 s)
#define ASGD_DETAIL_STREAMING_X86 1
#endif

namespace asgd::inline v0::detail {

/// Whether stream_fill uses streaming stores on this target (x86-64, not under ThreadSanitizer).
#if defined(ASGD_DETAIL_STREAMING_X86)
inline constexpr bool streaming_stores = true;
#else
inline constexpr bool streaming_stores = false;
#endif

/// Writes to[lo, hi) through `fill(out, a, b)`, which writes the values of indices [a, b) to
/// out[0, b - a). Whole cache lines of `to` are filled in a block on the stack, then stored
/// with streaming stores; a partial line at either end is filled in place. Ends with a store
/// fence, so a release that follows (a CAS that publishes the buffer) orders the streamed lines
/// before it as it orders plain stores. Without streaming stores: fill(to + lo, lo, hi).
template <class Fill>
void stream_fill(float* to, std::size_t lo, std::size_t hi, Fill&& fill) {
#if defined(ASGD_DETAIL_STREAMING_X86)
  constexpr std::size_t line = 64;
  constexpr std::size_t per_line = line / sizeof(float);
  constexpr std::size_t block = 4 * per_line;  // 256 bytes: stays in L1 between fill and store
  const std::size_t misaligned = reinterpret_cast<std::uintptr_t>(to + lo) % line / sizeof(float);
  std::size_t i = lo;
  if (misaligned != 0) {
    const std::size_t head = std::min(per_line - misaligned, hi - lo);
    fill(to + i, i, i + head);
    i += head;
  }
  alignas(line) float values[block];
  for (; hi - i >= block; i += block) {
    fill(values, i, i + block);
    // 16-byte stores (SSE, every x86-64): the four of a line meet in a write-combining buffer
    // and leave it as one line, as one 64-byte store would, and every build runs this same code.
    for (std::size_t k = 0; k < block; k += 4) _mm_stream_ps(to + i + k, _mm_load_ps(values + k));
  }
  if (i < hi) fill(to + i, i, hi);
  _mm_sfence();
#else
  fill(to + lo, lo, hi);
#endif
}

/// Reads `p[0, n)` one float a cache line, in order, so that a buffer whose lines are in memory
/// or in another core's cache (streamed out, or written there) comes into this core's cache at
/// the hardware prefetchers' pace before a reader that takes it in another order: a matrix
/// product's packing, whose misses then each wait for a line. The MLP's gradient at batch 16 on
/// a model the other core had just streamed out (the development VM, 7 Dec 2026, medians of 300
/// alternated calls, three to six runs): 86-106 us with this pass first (10-11 us of it), 107-155 us
/// without, 71-94 us on a model in its own cache; a pass of prefetch hints instead gained 2-4%.
inline void touch_lines(const float* p, std::size_t n) noexcept {
  constexpr std::size_t per_line = 64 / sizeof(float);
  float sum = 0.0f;
  for (std::size_t i = 0; i < n; i += per_line) sum += p[i];
  asm volatile("" : : "g"(sum));  // the loads happen; the sum is not needed
}

}  // namespace asgd::inline v0::detail
