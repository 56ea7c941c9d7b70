#pragma once
// The definitions of <asgd/detail/threads.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/threads.hpp>

namespace asgd::inline v0::detail {

ASGD_DECL void inject_thread_start_failure() {
  int n = fail_thread_start_at.load(std::memory_order_relaxed);
  while (n > 0 && !fail_thread_start_at.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
  }
  if (n == 1) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "injected");
}

ASGD_DECL void thread_start_failed(const std::system_error& e, const std::string& what) {
  throw std::system_error(e.code(), "asgd: cannot start the " + what +
                                        " (lower the thread or node count, or raise the process limit, ulimit -u)");
}

}  // namespace asgd::inline v0::detail
