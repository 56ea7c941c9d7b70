#pragma once
// The definitions of <asgd/detail/threads.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/threads.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <sched.h>
#endif

namespace asgd::inline v0::detail {

ASGD_DECL void inject_thread_start_failure() {
  int n = fail_thread_start_at.load(std::memory_order_relaxed);
  while (n > 0 && !fail_thread_start_at.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
  }
  if (n == 1) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "injected");
}

ASGD_DECL std::string request_realtime_scheduling() {
#if defined(__unix__) || defined(__APPLE__)
  sched_param param{};
  param.sched_priority = sched_get_priority_min(SCHED_FIFO);
  const int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
  return e == 0 ? std::string() : std::system_category().message(e);
#else
  return "no SCHED_FIFO on this platform";
#endif
}

ASGD_DECL void thread_start_failed(const std::system_error& e, const std::string& what) {
  throw std::system_error(e.code(), "asgd: cannot start the " + what +
                                        " (lower the thread or node count, or raise the process limit, ulimit -u)");
}

}  // namespace asgd::inline v0::detail
