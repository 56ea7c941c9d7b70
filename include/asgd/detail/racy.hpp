#pragma once
// Internal: the loads and stores of memory that other threads write concurrently.
//
// HOGWILD!'s races are intended; C++ still calls a plain concurrent access a data race (undefined
// behaviour, and ThreadSanitizer noise). Two implementations, with the same meaning: every float
// is read and written whole (never torn), no other guarantee.
//
// - Portable: one relaxed std::atomic_ref<float> load or store per float. A plain move on x86,
//   but compilers do not vectorise atomics: a relaxed copy of 1e5 floats runs at 25-30 GB/s
//   against memcpy's 66 GB/s on the development machine.
// - x86-64 with AVX: 16-byte aligned vector loads and stores written as inline assembly
//   (MOVAPS, or VMOVAPS with a VEX or EVEX.128 encoding and no mask). Both vendors guarantee that
//   such an access is single-copy atomic on processors that report AVX (CPUID.01H:ECX bit 28):
//   Intel SDM vol. 3A, "Guaranteed Atomic Operations" (section 9.1.1; 8.1.1 in editions before
//   2023), and AMD APM vol. 2, section 7.3.2 "Access Atomicity". An atomic 16-byte access is in
//   particular atomic for each of its four aligned floats, which is all HOGWILD! needs. Neither
//   manual promises anything for wider accesses (32 or 64 bytes may be split into several
//   accesses of unstated size), so none is used. Being assembly, the accesses are opaque to the
//   compiler: it can neither assume race freedom nor merge, split, repeat or drop them.
//   racy_update computes blocks of 64 floats from one load of each, and loads each 16 floats
//   again just before storing them, so that a stale block is never written back whole. A sole
//   writer (other_writers::none: other threads only read) loads plainly, at the compiler's width:
//   reads beside reads are no race, and only its stores must be whole for the readers.
//
// The portable path is used under ThreadSanitizer (which sees atomics, not assembly), on other
// targets, on x86-64 processors without AVX (checked once at run time when the build does not
// assume AVX), and wherever ASGD_PORTABLE_RACY_ACCESS is defined.

#include <asgd/version.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SANITIZE_THREAD__)
#define ASGD_DETAIL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ASGD_DETAIL_TSAN 1
#endif
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDA_ARCH__) && \
    !defined(ASGD_DETAIL_TSAN) && !defined(ASGD_PORTABLE_RACY_ACCESS)
#define ASGD_DETAIL_RACY_X86 1
#endif

namespace asgd::inline v0::detail {

[[nodiscard]] inline float racy_load(const float& x) noexcept {
  return std::atomic_ref<float>(const_cast<float&>(x)).load(std::memory_order_relaxed);
}

inline void racy_store(float& x, float v) noexcept { std::atomic_ref<float>(x).store(v, std::memory_order_relaxed); }

/// Lock-free exact add: a compare-and-swap loop (what GCC makes of atomic<float>::fetch_add).
inline void atomic_add(float& x, float v) noexcept {
  std::atomic_ref<float>(x).fetch_add(v, std::memory_order_relaxed);
}

/// Floats per vector access, and per block of racy_update.
inline constexpr std::size_t racy_lanes = 4;
inline constexpr std::size_t racy_block = 64;

/// Whether the racy loops below use 16-byte vector accesses in this build on this processor.
[[nodiscard]] inline bool racy_vector_access() noexcept {
#if defined(ASGD_DETAIL_RACY_X86) && defined(__AVX__)
  return true;
#elif defined(ASGD_DETAIL_RACY_X86)
  static const bool avx = __builtin_cpu_supports("avx");
  return avx;
#else
  return false;
#endif
}

#if defined(ASGD_DETAIL_RACY_X86)
typedef float racy_vec4 __attribute__((vector_size(16), aligned(16)));
typedef std::int32_t racy_mask4 __attribute__((vector_size(16), aligned(16)));
#if defined(__AVX__)
#define ASGD_DETAIL_MOVAPS "vmovaps"
#else
#define ASGD_DETAIL_MOVAPS "movaps"
#endif
// `p` is 16-byte aligned. The "x" constraint keeps to xmm0-15, which VEX (or legacy SSE) encodes.
inline racy_vec4 racy_load4(const float* p) noexcept {
  racy_vec4 v;
  asm volatile(ASGD_DETAIL_MOVAPS " %1, %0" : "=x"(v) : "m"(*reinterpret_cast<const racy_vec4*>(p)));
  return v;
}
inline void racy_store4(float* p, racy_vec4 v) noexcept {
  asm volatile(ASGD_DETAIL_MOVAPS " %1, %0" : "=m"(*reinterpret_cast<racy_vec4*>(p)) : "x"(v));
}
#undef ASGD_DETAIL_MOVAPS
// Loads 16 floats racily from `p` (16-byte aligned) into private `out` (64-byte aligned). With
// AVX they are joined in registers first: the compute loop's wide loads of `out` are then
// forwarded from one store of their width, where four narrow stores read back wide stall (which
// tripled racy_update's time). Without AVX the compiler's vectors are 16 bytes wide anyway.
inline void racy_load16(const float* p, float* out) noexcept {
  const racy_vec4 a = racy_load4(p), b = racy_load4(p + 4), c = racy_load4(p + 8), d = racy_load4(p + 12);
#if defined(__AVX__)
  typedef float vec16 __attribute__((vector_size(64), aligned(64)));
  const vec16 v = __builtin_shufflevector(__builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7),
                                          __builtin_shufflevector(c, d, 0, 1, 2, 3, 4, 5, 6, 7), 0, 1, 2, 3, 4, 5, 6,
                                          7, 8, 9, 10, 11, 12, 13, 14, 15);
  std::memcpy(out, &v, 64);
#else
  std::memcpy(out, &a, 16);
  std::memcpy(out + 4, &b, 16);
  std::memcpy(out + 8, &c, 16);
  std::memcpy(out + 12, &d, 16);
#endif
}

// Stores `n` private floats from `in` (n a multiple of 4) racily to `p` (16-byte aligned). Each
// 16-byte load of `in` reads what one wide store of the compute loop wrote, which the processor
// forwards; splitting a wide register into four would cost a shuffle each.
inline void racy_store_block(const float* in, float* p, std::size_t n) noexcept {
  for (std::size_t j = 0; j < n; j += 4) {
    racy_vec4 v;
    std::memcpy(&v, in + j, 16);
    racy_store4(p + j, v);
  }
}

// `in + (now - was)` where this write changes a float (`in != was`), else `now`: a write's
// change added to the value another writer left.
inline racy_vec4 racy_add_change(racy_vec4 in, racy_vec4 was, racy_vec4 now) noexcept {
  const racy_mask4 unchanged = in == was;
  return std::bit_cast<racy_vec4>((unchanged & std::bit_cast<racy_mask4>(now)) |
                                  (~unchanged & std::bit_cast<racy_mask4>(in + (now - was))));
}

// Stores the new values `in` of `n` floats (n a multiple of 16) racily to `p` (16-byte aligned),
// where `was` holds the values they were computed from. Each 16 floats are loaded again just
// before their store; where one changed meanwhile (another writer), it gets this write's
// change added instead (racy_add_change), and `in` is set to what was stored. So a thread
// descheduled between computing a block and storing it (for the rest of a run, at worst) does
// not write the block back as it was when it loaded it, undoing every other writer's updates
// to it since; the window where that can happen is four 16-byte loads, compares and stores.
// Where nothing changed, the stored value is `in` itself, bit for bit. The check costs 15-20%
// of a momentum update's time (101,770 floats in cache; 22-27% when each 4 floats were checked
// and stored apart), so a lone writer goes without it.
inline void racy_checked_store_block(float* in, const float* was, float* p, std::size_t n) noexcept {
  auto load = [](const float* f) {  // four separate loads: an array of four went through the stack
    racy_vec4 v;
    std::memcpy(&v, f, 16);
    return v;
  };
  for (std::size_t j = 0; j < n; j += 16) {
    float* const q = p + j;
    const racy_vec4 n0 = racy_load4(q), n1 = racy_load4(q + 4), n2 = racy_load4(q + 8), n3 = racy_load4(q + 12);
    const racy_vec4 w0 = load(was + j), w1 = load(was + j + 4), w2 = load(was + j + 8), w3 = load(was + j + 12);
    racy_vec4 v0 = load(in + j), v1 = load(in + j + 4), v2 = load(in + j + 8), v3 = load(in + j + 12);
    const racy_mask4 same = (n0 == w0) & (n1 == w1) & (n2 == w2) & (n3 == w3);
    // The compiler's builtin (MOVMSKPS, SSE): <immintrin.h> would add 47,000 lines to every TU.
    if (__builtin_ia32_movmskps(std::bit_cast<racy_vec4>(same)) != 0xF) [[unlikely]] {
      v0 = racy_add_change(v0, w0, n0);
      v1 = racy_add_change(v1, w1, n1);
      v2 = racy_add_change(v2, w2, n2);
      v3 = racy_add_change(v3, w3, n3);
      std::memcpy(in + j, &v0, 16);
      std::memcpy(in + j + 4, &v1, 16);
      std::memcpy(in + j + 8, &v2, 16);
      std::memcpy(in + j + 12, &v3, 16);
    }
    racy_store4(q, v0);
    racy_store4(q + 4, v1);
    racy_store4(q + 8, v2);
    racy_store4(q + 12, v3);
  }
}
#endif

// GCC warns that the vector loops could write past a buffer whose size it knows (a 2-float
// model in a test) even though `n` keeps them from running there.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif

/// Copies `n` floats from shared memory `src` (written by other threads) into private `dst`.
inline void racy_copy(const float* src, float* dst, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(ASGD_DETAIL_RACY_X86)
  if (n >= 4 * racy_lanes && racy_vector_access()) {
    for (; i < n && reinterpret_cast<std::uintptr_t>(src + i) % 16 != 0; ++i) dst[i] = racy_load(src[i]);
    for (; i + racy_lanes <= n; i += racy_lanes) {
      const racy_vec4 v = racy_load4(src + i);
      std::memcpy(dst + i, &v, 16);
    }
  }
#endif
  for (; i < n; ++i) dst[i] = racy_load(src[i]);
}

/// Copies `n` private floats from `src` into shared memory `dst` (read by other threads).
inline void racy_write(const float* src, float* dst, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(ASGD_DETAIL_RACY_X86)
  if (n >= 4 * racy_lanes && racy_vector_access()) {
    for (; i < n && reinterpret_cast<std::uintptr_t>(dst + i) % 16 != 0; ++i) racy_store(dst[i], src[i]);
    for (; i + racy_lanes <= n; i += racy_lanes) {
      racy_vec4 v;
      std::memcpy(&v, src + i, 16);
      racy_store4(dst + i, v);
    }
  }
#endif
  for (; i < n; ++i) racy_store(dst[i], src[i]);
}

/// Whether other threads may write an array while racy_update writes it.
enum class other_writers {
  none,     ///< the caller is its only writer now (one worker, no averager mixing beside it): no check
  possible  ///< each store checks that its floats still hold what they were computed from
};

/// What a checked racy write of `x` stores: `v`, computed from `was`, if `x` still holds `was`;
/// else this write's change added to what another writer left (`v + (now - was)`), or that value
/// itself where this write changes nothing. The float analogue of racy_add_change: the window
/// in which a stale value can still be stored shrinks from the whole computation of `v` to this
/// load, compare and the caller's store.
[[nodiscard]] inline float racy_checked_value(const float& x, float was, float v) noexcept {
  const float now = racy_load(x);
  if (now == was) [[likely]] return v;
  return v == was ? now : v + (now - was);
}

/// One float of racy_update (below): `x[i] <- f(i, x[i])`, checked, and copied to `also[i]` and
/// `also2[i]` where not null. A caller that must look something up between a float's load and
/// its store (the rate: a replica's sync for every float, a small HOGWILD! update for each
/// piece) loops over this itself.
template <class F>
void racy_update_one(float* x, std::size_t i, F& f, float* also, other_writers others, float* also2) noexcept {
  const float was = racy_load(x[i]);
  float v = f(i, was);
  if (others == other_writers::possible) v = racy_checked_value(x[i], was, v);
  racy_store(x[i], v);
  if (also != nullptr) also[i] = v;
  if (also2 != nullptr) also2[i] = v;
}

// out[j] = f(k + j, in[j]) for j < racy_block. `f` may read out[j] (a replica's sync does) but
// nothing else of `out`, and writes none of it: no dependence between iterations, which the
// pragma says, so that the loop vectorises without run-time overlap checks of every array `f`
// touches in every block (with them, GCC 12 took 10-25% longer).
template <class F>
[[gnu::always_inline]] inline void racy_block_into(const float* in, float* out, std::size_t k, F& f) noexcept {
#if defined(__clang__)
#pragma clang loop vectorize(assume_safety)
#else
#pragma GCC ivdep
#endif
  for (std::size_t j = 0; j < racy_block; ++j) out[j] = f(k + j, in[j]);
}

/// `x[k] <- f(k, x[k])` for k < n, each float read and written racily: a concurrent writer's
/// value may be overwritten (a lost update), never torn. `f` is a plain function of its
/// arguments, so the compiler may vectorise it over a block. When `also` is not null, each new
/// value is written to `also[k]` too (plain stores: `also` is private to the caller), and to
/// `also2[k]` when that is not null either (a second private array, from the block just stored,
/// while it is in the first-level cache: one pass where a copy after would be a second). With
/// `other_writers::possible`, a float that another thread wrote between this call's load and
/// its store gets this call's change added (`f(k, old) + (now - old)`, or `now` where f left
/// it unchanged) instead of being overwritten, except in a window of four 16-byte loads,
/// compares and stores (the one-float-at-a-time path's window: a load, a compare and a store).
template <class F>
void racy_update(float* x, std::size_t n, F&& f, float* also = nullptr,
                 other_writers others = other_writers::possible, float* also2 = nullptr) noexcept {
  std::size_t k = 0;
#if defined(ASGD_DETAIL_RACY_X86)
  if (n >= racy_block && racy_vector_access()) {
    for (; k < n && reinterpret_cast<std::uintptr_t>(x + k) % 16 != 0; ++k) racy_update_one(x, k, f, also, others, also2);
    // Blocks are loaded into a private array, where `f` runs vectorised at the compiler's width.
    // With `also`, the new values are computed straight into it and stored to `x` from there:
    // one pass of wide stores to the private copy, where storing them to the block first and
    // copying on cost a third more time (measured on Zen 5 with 101,770 floats).
    alignas(64) float block[racy_block];
    alignas(64) float result[racy_block];  // the new values when there is no `also`
    if (others == other_writers::none && also == nullptr && also2 == nullptr) {
      // The sole writer (see the top of this file) computes straight from the shared floats:
      // 0.81-0.97 of the plain kernel's speed where the racy loads through `block` gave
      // 0.65-0.75 (101,770 floats in cache, bench_consistency's solo pair).
      for (; k + racy_block <= n; k += racy_block) {
        racy_block_into(x + k, result, k, f);
        racy_store_block(result, x + k, racy_block);
      }
    }
    for (; k + racy_block <= n; k += racy_block) {
      for (std::size_t j = 0; j < racy_block; j += 16) racy_load16(x + k + j, block + j);
#if defined(__clang__)
      // The compute loop reads the block back from memory at its own width (Clang 14 otherwise
      // took its first float from a register and ran the rest off by one: twice the time).
      asm("" : "+m"(block));
#endif
      float* out = also != nullptr ? also + k : result;
      racy_block_into(block, out, k, f);
      if (others == other_writers::none) {
        racy_store_block(out, x + k, racy_block);
      } else {
        racy_checked_store_block(out, block, x + k, racy_block);
      }
      if (also2 != nullptr) std::memcpy(also2 + k, out, sizeof block);
    }
  }
#endif
  for (; k < n; ++k) racy_update_one(x, k, f, also, others, also2);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace asgd::inline v0::detail
