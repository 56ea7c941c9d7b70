#pragma once
// The definitions of <asgd/detail/worker_stats.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/worker_stats.hpp>

#include <string>
#include <type_traits>

namespace asgd::inline v0::detail {

// Writes the first n entries of v (those a checkpoint's step has reached).
template <class T>
void write_values(byte_writer& w, const std::vector<T>& v, std::size_t n) {
  n = std::min(n, v.size());
  w.u64(n);
  for (const T& x : std::span<const T>(v.data(), n)) {
    if constexpr (std::is_floating_point_v<T>)
      w.f64(static_cast<double>(x));
    else
      w.u64(static_cast<std::uint64_t>(x));
  }
}
// Reads what write_values wrote into `v`; this run has room for `limit` entries.
template <class T>
void read_values(byte_reader& r, std::vector<T>& v, std::size_t limit, std::string_view what) {
  const std::uint64_t n = r.u64();
  if (n > limit) r.fail(std::string(what) + " holds " + std::to_string(n) + " entries, this run has " + std::to_string(limit));
  if (v.size() < n) v.resize(static_cast<std::size_t>(n));
  for (std::uint64_t i = 0; i < n; ++i) {
    if constexpr (std::is_floating_point_v<T>)
      v[i] = static_cast<T>(r.f64());
    else
      v[i] = static_cast<T>(r.u64());
  }
}

ASGD_DECL bin_total sum_bin(all_worker_stats stats, loss_series worker_stats::*series, std::size_t i) {
  bin_total t;
  for (const worker_stats* w : stats) {
    const loss_series& s = w->*series;
    if (i >= s.size()) continue;  // this worker never reached bin i
    t.loss += s.loss[i];
    t.count += s.count[i];
    t.time = std::max(t.time, s.time[i]);
  }
  if (t.count > 0) t.loss /= static_cast<double>(t.count);
  return t;
}

ASGD_DECL void loss_series::grow(std::size_t bins) {
  loss.resize(bins, 0.0);
  count.resize(bins, 0);
  time.resize(bins, 0.0);
  stamp.resize(bins, 0);
}

ASGD_DECL void loss_series::fold(time_anchor from, time_anchor to) {
  for (std::size_t i = stamped_from; i < stamped_to; ++i) {
    if (stamp[i] == 0) continue;
    time[i] = seconds_at(stamp[i], from, to);
    stamp[i] = 0;
  }
  stamped_from = ~std::size_t{0};
  stamped_to = 0;
}

ASGD_DECL void loss_series::save(byte_writer& w, std::size_t bins) const {
  write_values(w, loss, bins);
  write_values(w, count, bins);
  write_values(w, time, bins);
}

ASGD_DECL void loss_series::load(byte_reader& r, std::size_t limit, std::string_view what) {
  read_values(r, loss, limit, what);
  read_values(r, count, limit, what);
  read_values(r, time, limit, what);
  // A checkpoint holds as many of each; one crafted with fewer of some must not leave add()
  // indexing past the shorter vectors.
  const std::size_t n = std::max({loss.size(), count.size(), time.size()});
  loss.resize(n, 0.0);
  count.resize(n, 0);
  time.resize(n, 0.0);
  stamp.assign(n, 0);
}

ASGD_DECL void worker_stats::save(byte_writer& w, const run_plan& p, std::uint64_t step) const {
  w.u64(steps);
  w.u64(applied);
  w.u64(dropped);
  staleness.save(w);
  retries.save(w);
  intervals.save(w, static_cast<std::size_t>(ceil_div(step, p.log_every)));
  epochs.save(w, static_cast<std::size_t>(ceil_div(step, p.steps_per_epoch)));
}

ASGD_DECL void worker_stats::load(byte_reader& r, const run_plan& p) {
  steps = r.u64();
  applied = r.u64();
  dropped = r.u64();
  staleness.load(r);
  retries.load(r);
  intervals.load(r, p.interval_bins, "the loss curve");
  epochs.load(r, p.epoch_bins, "the epoch losses");
}

ASGD_DECL void add_worker_totals(report& r, all_worker_stats stats, std::size_t batch, double trained_seconds,
                                 std::uint64_t restored_steps) {
  for (const worker_stats* s : stats) {
    r.steps += s->steps;
    r.updates_applied += s->applied;
    r.updates_dropped += s->dropped;
    r.staleness.merge(s->staleness);
    r.cas_retries.merge(s->retries);
  }
  r.samples = r.steps * batch;
  const auto this_run = static_cast<double>((r.steps - restored_steps) * batch);
  r.samples_per_second = trained_seconds > 0 ? this_run / trained_seconds : 0.0;
}

ASGD_DECL void add_curves(report& r, const run_plan& p, all_worker_stats stats, std::size_t batch,
                          std::vector<evaluation_point> evaluations, std::span<const std::optional<evaluation>> epoch_eval,
                          double end_seconds) {
  std::size_t intervals = 0;
  std::size_t epochs = 0;
  for (const worker_stats* s : stats) {
    intervals = std::max(intervals, s->intervals.size());
    epochs = std::max(epochs, s->epochs.size());
  }
  // A bin's time is its last minibatch's; a worker descheduled while it held steps of an early
  // bin finishes that bin after later ones, so a point's time is the latest of it and all
  // before it: when the run had done everything up to that point. Times never go backwards.
  double done_by = 0.0;
  for (std::size_t j = 0; j < intervals; ++j) {
    const bin_total t = sum_bin(stats, &worker_stats::intervals, j);
    if (t.count == 0) continue;
    const std::uint64_t steps_done = std::min<std::uint64_t>((j + 1) * p.log_every, p.total_steps);
    const std::uint64_t samples = steps_done * batch;
    done_by = std::max(done_by, t.time);
    r.loss_curve.push_back({done_by, samples, static_cast<double>(samples) / static_cast<double>(p.samples), t.loss});
  }

  r.evaluations = std::move(evaluations);
  if (r.final_evaluation && (p.epoch_pauses || p.evaluate_every > 0)) {
    r.evaluations.push_back({p.total_steps, static_cast<double>(p.total_steps) / static_cast<double>(p.steps_per_epoch),
                             end_seconds, *r.final_evaluation});
  }
  done_by = 0.0;
  for (std::size_t e = 0; e < epochs; ++e) {
    const bin_total t = sum_bin(stats, &worker_stats::epochs, e);
    if (t.count == 0) continue;
    std::optional<evaluation> eval = e < epoch_eval.size() ? epoch_eval[e] : std::nullopt;
    if (!eval && p.epoch_pauses && e + 1 == epochs) eval = r.final_evaluation;
    done_by = std::max(done_by, t.time);
    r.epochs.push_back({e + 1, t.loss, done_by, eval});
  }
}

}  // namespace asgd::inline v0::detail
