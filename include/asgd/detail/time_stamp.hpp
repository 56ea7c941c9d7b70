#pragma once
// Internal: a time stamp cheaper than steady_clock, turned into seconds afterwards.
//
// A worker stamps a loss bin with the time it leaves it (detail/worker_stats.hpp). On x86 the
// time-stamp counter read in 11 ns on the VM this library was first measured on (3-4 ns on a
// later one), steady_clock (kvm-clock through the vDSO) in 27-30 ns; a read at every step was a
// third of the trainer's own cost per step there, hence a read per bin. Stamps are raw counts;
// the trainer reads both clocks at the ends of each segment between pauses and places a stamp in
// seconds by interpolating between those two anchors.

#include <asgd/detail/simulation.hpp>
#include <asgd/version.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>

// The compiler's builtin, not __rdtsc() from <x86intrin.h>: that header alone costs GCC 12 about
// 1 s of CPU in every translation unit that includes a trainer.
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(__CUDA_ARCH__)
#define ASGD_DETAIL_TSC 1
#endif

namespace asgd::inline v0::detail {

/// A raw time stamp: the time-stamp counter on x86, steady_clock's count elsewhere. Only its
/// order and its differences within one segment are used.
/// In a simulated run, the task's virtual time in nanoseconds.
inline std::uint64_t time_stamp() noexcept {
  if (auto* s = simulated()) [[unlikely]]
    return static_cast<std::uint64_t>(s->now() * 1e9);
#if defined(ASGD_DETAIL_TSC)
  return __builtin_ia32_rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}

/// A moment at which both a stamp and the training time in seconds were read.
struct time_anchor {
  std::uint64_t stamp = 0;
  double seconds = 0.0;
};

/// The training time of `stamp`, taken between anchors `from` and `to`: linear in the stamp,
/// and clamped to [from.seconds, to.seconds], so a counter that is not constant-rate or not
/// synchronised across cores can misplace a time inside its segment but never outside it.
inline double seconds_at(std::uint64_t stamp, time_anchor from, time_anchor to) noexcept {
  if (stamp <= from.stamp) return from.seconds;
  if (stamp >= to.stamp) return to.seconds;
  const double part = static_cast<double>(stamp - from.stamp) / static_cast<double>(to.stamp - from.stamp);
  return std::clamp(from.seconds + part * (to.seconds - from.seconds), from.seconds, to.seconds);
}

}  // namespace asgd::inline v0::detail
