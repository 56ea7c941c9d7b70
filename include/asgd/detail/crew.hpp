#pragma once
// Internal: how a trainer run starts its workers and its averager and waits for them, on OS
// threads or as tasks in virtual time. Not a template: every trainer shares this code, and under
// ASGD_SEPARATE_COMPILATION it is compiled once (each trainer's own part is run_crew's overrides).

#include <asgd/detail/config.hpp>

#include <cstddef>
#include <string_view>

namespace asgd::inline v0::detail {

class simulation_hooks;  // <asgd/detail/simulation.hpp>
class run_extras;

/// A run's code for its threads, which run_crew_threads calls.
class run_crew {
 public:
  /// Worker `w`'s loop (it keeps its own errors).
  virtual void work(std::size_t w) = 0;
  /// A non-blocking node's averaging loop; `scheduling` says how its OS thread is scheduled
  /// (empty on a task of a simulation).
  virtual void average(std::string_view scheduling) = 0;
  /// Starting a thread or task failed, with the exception current: keep it and stop the run, and
  /// release what workers `started`, `started + 1`, ... (never started) would have released.
  virtual void start_failed(std::size_t started) = 0;
  /// Every worker has returned; the averager, if any, still runs.
  virtual void workers_finished() = 0;
  /// Wakes the averager to see that the workers finished.
  virtual void wake_averager() = 0;

 protected:
  run_crew() = default;
  run_crew(const run_crew&) = default;
  run_crew& operator=(const run_crew&) = default;
  ~run_crew() = default;
};

/// Where and how many: workers `0 .. workers - 1` and, when `averager`, the averaging loop.
struct crew_shape {
  std::size_t workers = 0;
  std::size_t node = 0;
  bool averager = false;
  bool realtime_averager = false;     // ask SCHED_FIFO for the averager's OS thread
  simulation_hooks* outer = nullptr;  // the run is a task of this simulation: spawn tasks there
  run_extras* simulation = nullptr;   // else the run's own simulation runs the workers as tasks
};

/// Runs the crew: starts the averager and the workers (OS threads named in start errors, or
/// tasks), joins the workers, calls workers_finished(), then wakes and joins the averager. A
/// start that fails calls start_failed() and joins what did start.
ASGD_DECL void run_crew_threads(const crew_shape& shape, run_crew& crew);

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/crew.ipp>
#endif
