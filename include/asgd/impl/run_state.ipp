#pragma once
// The definitions of <asgd/detail/run_state.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/run_state.hpp>

namespace asgd::inline v0::detail {

ASGD_DECL pause_duties pause_duties_at(const run_plan& p, const run_state& sh, const settings& s,
                                       std::uint64_t checkpoint_every, std::uint64_t k) {
  pause_duties d;
  d.first_epoch = sh.reported_step / p.steps_per_epoch;
  d.done_epochs = k / p.steps_per_epoch;
  d.epoch_end = p.epoch_pauses && d.done_epochs > d.first_epoch;
  const std::uint64_t every = s.epochs_per_evaluation;
  const bool epoch_evaluated =
      d.epoch_end && (d.done_epochs / every > d.first_epoch / every || k == p.total_steps);
  const bool between = p.evaluate_every > 0 && k / p.evaluate_every > sh.reported_step / p.evaluate_every;
  d.evaluation_due = epoch_evaluated || between;
  d.checkpoint_due = checkpoint_every > 0 && k / checkpoint_every > sh.checkpointed_step / checkpoint_every;
  return d;
}

ASGD_DECL pause_report open_pause_report(run_state& sh, const run_plan& p, const pause_duties& duties,
                                         all_worker_stats stats, std::size_t batch, std::uint64_t k, double trained,
                                         bool reports_epochs) {
  pause_report rep;
  rep.step = k;
  rep.epoch = static_cast<double>(k) / static_cast<double>(p.steps_per_epoch);
  rep.trained = trained;
  if (!duties.epoch_end) return rep;
  rep.first_epoch = duties.first_epoch;
  rep.done_epochs = duties.done_epochs;
  if (sh.epoch_eval.size() < duties.done_epochs) sh.epoch_eval.resize(static_cast<std::size_t>(duties.done_epochs));
  for (std::uint64_t e = duties.first_epoch; e < duties.done_epochs && reports_epochs; ++e) {
    epoch_progress ep;
    ep.epoch = static_cast<std::size_t>(e + 1);
    ep.epochs = p.epoch_bins;
    ep.steps = k;
    ep.total_steps = p.total_steps;
    ep.train_loss = sum_bin(stats, &worker_stats::epochs, static_cast<std::size_t>(e)).loss;
    ep.seconds = trained;
    const double run_seconds = trained - sh.time_offset;
    const double done_here = static_cast<double>(k - sh.started_at);
    ep.samples_per_second = run_seconds > 0 ? done_here * static_cast<double>(batch) / run_seconds : 0.0;
    ep.eta_seconds = done_here > 0 ? run_seconds * static_cast<double>(p.total_steps - k) / done_here : 0.0;
    rep.progress.push_back(ep);
  }
  return rep;
}

ASGD_DECL void publish(run_state& sh, pause_report& rep, const std::optional<evaluation>& eval,
                       const std::function<void(const epoch_progress&)>& on_epoch) {
  if (eval) sh.evaluations.push_back({rep.step, rep.epoch, rep.trained, *eval});
  for (std::uint64_t e = rep.first_epoch; e < rep.done_epochs; ++e) sh.epoch_eval[e] = eval;
  for (epoch_progress& ep : rep.progress) {
    ep.eval = eval;
    on_epoch(ep);
  }
}

ASGD_DECL void add_run_totals(report& r, const run_plan& p, const run_state& sh, all_worker_stats stats,
                              const settings& s, double seconds) {
  r.used = s;
  r.used.staleness_every = p.staleness_every;
  r.wall_seconds = seconds;
  r.pause_seconds = sh.paused;
  r.resumed_at_step = sh.started_at;
  add_worker_totals(r, stats, s.batch, seconds - sh.paused, sh.restored_steps);
}

ASGD_DECL std::optional<epoch_progress> last_epoch_progress(const report& r, const run_plan& p, const run_state& sh,
                                                            double seconds) {
  if (r.epochs.empty() || sh.reported_step >= p.total_steps) return std::nullopt;
  const epoch_record& last = r.epochs.back();
  epoch_progress ep;
  ep.epoch = last.epoch;
  ep.epochs = r.epochs.size();
  ep.steps = ep.total_steps = p.total_steps;
  ep.train_loss = last.train_loss;
  ep.eval = last.eval;
  ep.seconds = seconds - sh.paused + sh.time_offset;
  ep.samples_per_second = r.samples_per_second;
  return ep;
}

}  // namespace asgd::inline v0::detail
