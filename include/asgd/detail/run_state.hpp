#pragma once
// Internal: what a trainer run shares between its workers, its pauses and its caller, apart from
// the averaging (whose types come from the policies), and the pauses' and the report's
// bookkeeping, which needs nothing of the policies: compiled once (ASGD_DECL), not once per
// trainer type.

#include <asgd/detail/config.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/run_plan.hpp>
#include <asgd/detail/step_claims.hpp>
#include <asgd/detail/steps_done.hpp>
#include <asgd/detail/time_stamp.hpp>
#include <asgd/detail/worker_stats.hpp>
#include <asgd/report.hpp>
#include <asgd/settings.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace asgd::inline v0::detail {

class event_log;

/// A run's state shared between its workers, its pauses and the caller (a trainer adds its
/// averaging's).
struct run_state {
  std::optional<step_claims> claims;  // free-running modes' steps of the segment
  std::vector<event_log>* logs = nullptr;  // a recorded or replayed run's, one a worker
  alignas(cache_line) std::atomic<bool> stop{false};
  // A node's steps done, which its averager waits for (detail/steps_done.hpp).
  steps_done done_steps;
  alignas(cache_line) std::atomic<bool> workers_done{false};
  std::chrono::steady_clock::time_point workers_end;  // written before workers_done is set
  // Rounds mixed in so far (the averager's next_round after each), for workers bounding the lag.
  alignas(cache_line) std::atomic<std::uint64_t> rounds_landed{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  std::chrono::steady_clock::time_point start;
  // Keeps the first error of any thread (worker, averager, pause) and stops the run.
  void fail(std::exception_ptr e) {
    {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::move(e);
    }
    stop.store(true, std::memory_order_relaxed);
  }
  // Written only in pauses, while every worker waits at the barrier.
  std::uint64_t segment_end = 0;
  std::uint64_t reported_step = 0;  // last step at which epochs were reported
  std::uint64_t checkpointed_step = 0;
  double paused = 0.0;                // seconds spent in pauses
  time_anchor segment_start;          // the clocks when the workers last started or resumed
  double time_offset = 0.0;           // training seconds before a resume
  std::uint64_t version_offset = 0;   // updates applied before a resume
  std::uint64_t started_at = 0;       // the step this run started from (a checkpoint's, or 0)
  std::uint64_t restored_steps = 0;   // steps the workers' statistics held at the start
  std::vector<std::optional<evaluation>> epoch_eval;
  std::vector<evaluation_point> evaluations;
  // A non-blocking node's evaluation in the background (trainer/pause.hpp): the thread, and the
  // copy of the model it evaluates. Joined at the next pause and after the workers.
  std::thread evaluator;
  std::vector<float> evaluated;
};

/// What a pause at a segment's end has to do.
struct pause_duties {
  bool epoch_end = false;       // an epoch ended (and epochs pause)
  bool evaluation_due = false;  // an evaluation is due, at an epoch's end or between
  bool checkpoint_due = false;
  std::uint64_t first_epoch = 0, done_epochs = 0;  // the epochs [first, done) that ended
  /// Whether the pause copies the model out and checks it. A pause for a blocking average alone
  /// does not: with an average after every step, that was two passes over the model a step, on a
  /// core the other nodes need. Every step's loss is still checked.
  [[nodiscard]] bool copies_model() const noexcept { return epoch_end || evaluation_due || checkpoint_due; }
};

/// The duties of the pause at step `k` (every step before it done, none after it begun).
ASGD_DECL pause_duties pause_duties_at(const run_plan& p, const run_state& sh, const settings& s,
                                       std::uint64_t checkpoint_every, std::uint64_t k);

/// What one pause reports: the evaluation taken there (if due) and the finished epochs'
/// progress, recorded by publish() once the evaluation is done.
struct pause_report {
  std::uint64_t step = 0;
  double epoch = 0.0;
  double trained = 0.0;  // training seconds at the pause
  std::uint64_t first_epoch = 0, done_epochs = 0;  // the epochs [first, done) that ended
  std::vector<epoch_progress> progress;            // on_epoch's calls for them, eval still empty
};

/// The report of the pause at step `k`, `trained` seconds into training: the epochs that ended
/// there (room for their evaluations in `sh.epoch_eval`) and, when `reports_epochs`, their
/// progress for on_epoch.
ASGD_DECL pause_report open_pause_report(run_state& sh, const run_plan& p, const pause_duties& duties,
                                         all_worker_stats stats, std::size_t batch, std::uint64_t k, double trained,
                                         bool reports_epochs);

/// Records a pause's evaluation (in the run's list, and for each epoch that ended there) and
/// calls `on_epoch` for those epochs; on the pause's thread, or on the evaluation thread.
ASGD_DECL void publish(run_state& sh, pause_report& rep, const std::optional<evaluation>& eval,
                       const std::function<void(const epoch_progress&)>& on_epoch);

/// The report's parts that need nothing of the policies: the settings used, the times, the
/// workers' totals (run over `seconds` of wall time).
ASGD_DECL void add_run_totals(report& r, const run_plan& p, const run_state& sh, all_worker_stats stats,
                              const settings& s, double seconds);

/// on_epoch's call for the run's last epoch when no pause reported it (a run that ends inside an
/// epoch, or does not pause at epochs' ends), else nothing.
ASGD_DECL std::optional<epoch_progress> last_epoch_progress(const report& r, const run_plan& p, const run_state& sh,
                                                            double seconds);

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/run_state.ipp>
#endif
