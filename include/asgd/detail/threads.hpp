#pragma once
// Internal: starting the library's threads, with an error that says which thread could not be
// started, and a fault-injection switch so tests can make a start fail on purpose.

#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace asgd::inline v0::detail {

/// Fault injection for tests: when set to n > 0, the n-th following start_thread() call fails
/// as if the system had no thread left (EAGAIN); 0 (the default) injects nothing.
inline std::atomic<int> fail_thread_start_at{0};

/// Starts `f` on a new thread. When the system refuses (std::thread throws), throws
/// std::system_error with the same code and a message naming `what`, e.g. "worker thread 3 of
/// 8"; the caller must then release whatever its started threads wait for, and join them.
template <class F>
std::thread start_thread(const std::string& what, F&& f) {
  int n = fail_thread_start_at.load(std::memory_order_relaxed);
  while (n > 0 && !fail_thread_start_at.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
  }
  try {
    if (n == 1) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "injected");
    return std::thread(std::forward<F>(f));
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "asgd: cannot start the " + what +
                                          " (lower the thread or node count, or raise the process limit, ulimit -u)");
  }
}

}  // namespace asgd::inline v0::detail
