#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): the report: throughput, staleness
// and retries, the loss curve, the evaluations and the epochs.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

template <class Problem, class... Policies>
report trainer<Problem, Policies...>::summarize(const plan& p, const store_type& store,
                                                std::vector<worker_context>& ctx, shared_state& sh, double seconds) {
  report r;
  r.problem = detail::describe(problem_);
  r.consistency = detail::describe(consistency_);
  r.update_rule = detail::describe(update_);
  r.selector = detail::describe(selector_);
  r.used = settings_;
  r.used.staleness_every = p.staleness_every;
  r.wall_seconds = seconds;
  r.pause_seconds = sh.paused;
  r.resumed_at_step = sh.started_at;

  for (const auto& c : ctx) {
    const worker_stats& s = c.stats;
    r.steps += s.steps;
    r.updates_applied += s.applied;
    r.updates_dropped += s.dropped;
    r.staleness.merge(s.staleness);
    r.cas_retries.merge(s.retries);
  }
  r.samples = r.steps * settings_.batch;
  const double trained = seconds - sh.paused;
  const auto this_run = static_cast<double>((r.steps - sh.restored_steps) * settings_.batch);
  r.samples_per_second = trained > 0 ? this_run / trained : 0.0;
  r.model_version = sh.version_offset + store.version();
  const store_stats ss = store.stats();
  r.peak_live_versions = ss.peak_live_versions;
  r.allocated_versions = ss.allocated_versions;
  if constexpr (averages) {
    node_report n;
    n.node = p.node;
    n.nodes = p.nodes;
    n.topology = detail::describe(sh.avg.averager ? sh.avg.averager->topology() : topology_);
    n.transport = detail::describe(transport_);
    n.quantizer = detail::describe(quantizer_);
    n.blocking = settings_.averaging.blocking;
    n.shard_samples = p.shard.count;
    n.shard_classes = p.shard_classes;
    const averaging_state& a = sh.avg;
    n.rounds = a.next_round - a.skipped;
    n.skipped_interactions = a.skipped;
    n.exchange_seconds = a.exchange_seconds;
    n.overlap = a.exchange_seconds > 0 ? a.overlap_seconds / a.exchange_seconds : 0.0;
    n.mix_lag = n.rounds > 0 ? static_cast<double>(a.lag_sum) / static_cast<double>(n.rounds) : 0.0;
    n.mix_lag_max = a.lag_max;
    if (a.averager) {
      n.bytes_sent = a.averager->bytes_sent();
      n.bits_sent = a.averager->bits_sent();
      n.pushes_received = a.averager->pushes_received();
      n.lost_nodes = a.averager->lost_nodes();
    }
    n.consensus = a.consensus;
    n.final_consensus_distance = a.final_consensus;
    n.final_average = a.final_averaged;
    r.node = std::move(n);
  }

  std::size_t intervals = 0;
  std::size_t epochs = 0;
  for (const auto& c : ctx) {
    intervals = std::max(intervals, c.stats.intervals.size());
    epochs = std::max(epochs, c.stats.epochs.size());
  }
  // A bin's time is its last minibatch's; a worker descheduled while it held steps of an early
  // bin finishes that bin after later ones, so a point's time is the latest of it and all
  // before it: when the run had done everything up to that point. Times never go backwards.
  double done_by = 0.0;
  for (std::size_t j = 0; j < intervals; ++j) {
    const bin_total t = total(ctx, &worker_stats::intervals, j);
    if (t.count == 0) continue;
    const std::uint64_t steps_done = std::min<std::uint64_t>((j + 1) * p.log_every, p.total_steps);
    const std::uint64_t samples = steps_done * settings_.batch;
    done_by = std::max(done_by, t.time);
    r.loss_curve.push_back({done_by, samples, static_cast<double>(samples) / static_cast<double>(p.samples), t.loss});
  }

  parameters_.assign(p.dimension, 0.0f);
  store.copy_to(std::span<float>(parameters_));
  if constexpr (evaluable_problem<Problem>) {
    if (settings_.evaluate) r.final_evaluation = problem_.evaluate(std::span<const float>(parameters_));
  }
  r.evaluations = sh.evaluations;
  if (r.final_evaluation && (p.epoch_pauses || p.evaluate_every > 0)) {
    r.evaluations.push_back({p.total_steps, static_cast<double>(p.total_steps) / static_cast<double>(p.steps_per_epoch),
                             seconds - sh.paused + sh.time_offset, *r.final_evaluation});
  }
  done_by = 0.0;
  for (std::size_t e = 0; e < epochs; ++e) {
    const bin_total t = total(ctx, &worker_stats::epochs, e);
    if (t.count == 0) continue;
    std::optional<evaluation> eval = e < sh.epoch_eval.size() ? sh.epoch_eval[e] : std::nullopt;
    if (!eval && p.epoch_pauses && e + 1 == epochs) eval = r.final_evaluation;
    done_by = std::max(done_by, t.time);
    r.epochs.push_back({e + 1, t.loss, done_by, eval});
  }
  return r;
}

}  // namespace asgd::inline v0
