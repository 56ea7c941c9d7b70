#pragma once
// Internal: what each worker of a trainer counts (steps, staleness, retries, its minibatch losses
// binned by step), how a checkpoint holds it, and how the report sums it over the workers. None
// of it depends on the trainer's policies, so it is compiled once (ASGD_DECL), not once per
// trainer type.

#include <asgd/checkpoint.hpp>
#include <asgd/detail/config.hpp>
#include <asgd/detail/run_plan.hpp>
#include <asgd/detail/time_stamp.hpp>
#include <asgd/metrics/histogram.hpp>
#include <asgd/report.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::detail {

/// Minibatch losses binned by step: per loss-curve interval, or per epoch. The bins grow as the
/// worker reaches them, so memory follows the steps taken, not the steps planned.
struct loss_series {
  std::vector<double> loss;
  std::vector<std::uint64_t> count;
  std::vector<double> time;  // training seconds at the end of the bin's last minibatch
  // The raw time stamp at which this worker last left the bin in the current segment (0: none),
  // turned into `time` at the segment's end (fold). Bins [stamped_from, stamped_to) hold this
  // segment's stamps, so a pause folds only those.
  std::vector<std::uint64_t> stamp;
  std::size_t stamped_from = ~std::size_t{0};
  std::size_t stamped_to = 0;
  static constexpr std::size_t no_bin = ~std::size_t{0};
  std::size_t open = no_bin;  // the bin of this worker's last step, not stamped yet

  [[nodiscard]] std::size_t size() const noexcept { return loss.size(); }
  // Called as a step in `bin` begins. The clock is read only when the worker leaves a bin: the
  // start of its first step in another bin is the end of its last one in the old (but for the
  // claim between them), and a read of the time-stamp counter at every step was a third of a
  // step's bookkeeping.
  void enter(std::size_t bin) {
    if (bin != open) [[unlikely]]
      leave_for(bin);
  }
  [[gnu::noinline]] void leave_for(std::size_t bin) {
    if (open != no_bin) stamp_at(open, time_stamp());
    open = bin;
  }
  // Called as the worker's segment ends: its open bin ends with its last step.
  void close() { leave_for(no_bin); }
  // Called as a step in `bin` ends (after enter(bin)): inline.
  void add(std::size_t bin, float l) {
    if (bin >= loss.size()) grow(bin + 1);  // amortised: std::vector grows geometrically
    loss[bin] += l;
    ++count[bin];
  }
  void stamp_at(std::size_t bin, std::uint64_t now) {
    if (bin >= loss.size()) grow(bin + 1);  // the bin's step threw before its add()
    stamp[bin] = now;
    stamped_from = std::min(stamped_from, bin);
    stamped_to = std::max(stamped_to, bin + 1);
  }
  ASGD_DECL void grow(std::size_t bins);
  /// Places this segment's stamps in seconds between its start and end anchors.
  ASGD_DECL void fold(time_anchor from, time_anchor to);
  /// The first `bins` bins (those a checkpoint's step has reached).
  ASGD_DECL void save(byte_writer& w, std::size_t bins) const;
  /// Reads what save wrote; this run has room for `limit` bins (more than the checkpoint's when
  /// it runs longer). `what` names the series in errors.
  ASGD_DECL void load(byte_reader& r, std::size_t limit, std::string_view what);
};

/// What each worker counts; written by its worker only, read in pauses and after join.
struct worker_stats {
  metrics::histogram staleness{256};
  metrics::histogram retries{256};
  std::uint64_t steps = 0;
  std::uint64_t applied = 0;
  std::uint64_t dropped = 0;
  loss_series intervals;  // the loss curve's bins (log_every steps each)
  loss_series epochs;

  /// The statistics up to a checkpoint's `step` (so a shorter or longer run can resume).
  ASGD_DECL void save(byte_writer& w, const run_plan& p, std::uint64_t step) const;
  ASGD_DECL void load(byte_reader& r, const run_plan& p);
};

/// Every worker's statistics, for the report.
using all_worker_stats = std::span<const worker_stats* const>;

/// Bin `i` of one series summed over the workers: mean loss, count, latest time.
struct bin_total {
  double loss = 0.0;
  std::uint64_t count = 0;
  double time = 0.0;
};
ASGD_DECL bin_total sum_bin(all_worker_stats stats, loss_series worker_stats::*series, std::size_t i);

/// Adds the workers' steps, updates, staleness and retries to `r`, with samples/s over
/// `trained_seconds` of the samples this run took (not those before a resume's step).
ASGD_DECL void add_worker_totals(report& r, all_worker_stats stats, std::size_t batch, double trained_seconds,
                                 std::uint64_t restored_steps);

/// Adds the loss curve, the evaluations (`evaluations` with the final one, in `r`, appended when
/// the run evaluated as it went, at `end_seconds` of training) and the epochs (`epoch_eval`: the
/// evaluation at each epoch's end, where one was made) to `r`.
ASGD_DECL void add_curves(report& r, const run_plan& p, all_worker_stats stats, std::size_t batch,
                          std::vector<evaluation_point> evaluations, std::span<const std::optional<evaluation>> epoch_eval,
                          double end_seconds);

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/worker_stats.ipp>
#endif
