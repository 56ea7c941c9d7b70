#pragma once
// Internal: starting the library's threads, with an error that says which thread could not be
// started, and a fault-injection switch so tests can make a start fail on purpose.

#include <asgd/detail/config.hpp>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace asgd::inline v0::detail {

/// Fault injection for tests: when set to n > 0, the n-th following start_thread() call fails
/// as if the system had no thread left (EAGAIN); 0 (the default) injects nothing.
inline std::atomic<int> fail_thread_start_at{0};

/// Counts fail_thread_start_at down; throws EAGAIN's std::system_error where it reaches 1.
ASGD_DECL void inject_thread_start_failure();

/// Throws start_thread's error for `e`.
[[noreturn]] ASGD_DECL void thread_start_failed(const std::system_error& e, const std::string& what);

/// Asks for real-time scheduling of the calling thread (SCHED_FIFO at its lowest priority).
/// Returns an empty string, or why the system refused.
ASGD_DECL std::string request_realtime_scheduling();

/// The threads that start_thread started and that have not finished, in this process: workers,
/// averagers, nodes, evaluators. A waiter spins only while these fit the cores (`detail::barrier`).
inline std::atomic<std::size_t> started_threads{0};

/// Starts `f` on a new thread, counted in `started_threads` until `f` returns. When the system
/// refuses (std::thread throws), throws std::system_error with the same code and a message naming
/// `what`, e.g. "worker thread 3 of 8"; the caller must then release whatever its started threads
/// wait for, and join them.
template <class F>
std::thread start_thread(const std::string& what, F&& f) {
  bool counted = false;
  try {
    inject_thread_start_failure();
    started_threads.fetch_add(1, std::memory_order_relaxed);
    counted = true;
    return std::thread([body = std::forward<F>(f)]() mutable {
      struct leaving {
        ~leaving() { started_threads.fetch_sub(1, std::memory_order_relaxed); }
      } counted_until_return;
      body();
    });
  } catch (const std::system_error& e) {
    if (counted) started_threads.fetch_sub(1, std::memory_order_relaxed);
    thread_start_failed(e, what);
  }
}

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/threads.ipp>
#endif
