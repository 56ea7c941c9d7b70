#pragma once
// Internal: waiting for a communication library that makes progress only while it is polled
// (MPI's requests, NCCL's nonblocking communicators and the CUDA streams they run on), with a
// deadline, so a peer that stops answering ends the run instead of hanging it.

#include <asgd/version.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

namespace asgd::inline v0::detail {

/// Calls `done` until it returns true (then true) or `limit` has passed (then false). Spins,
/// yielding, for the first 64 polls, then sleeps 1, 2, 4 ... 200 us between polls: the library
/// needs its calls to progress, and worker threads on the same cores need the cores meanwhile.
template <class Done>
[[nodiscard]] bool poll_until(Done&& done, std::chrono::duration<double> limit) {
  const auto start = std::chrono::steady_clock::now();
  std::chrono::microseconds pause{0};
  for (int polls = 0; !done(); ++polls) {
    if (std::chrono::steady_clock::now() - start > limit) return false;
    if (polls < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(pause);
      pause = std::min(std::max(2 * pause, std::chrono::microseconds{1}), std::chrono::microseconds{200});
    }
  }
  return true;
}

}  // namespace asgd::inline v0::detail
