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
  const std::vector<const worker_stats*> stats = stats_of(ctx);
  detail::add_run_totals(r, p, sh, stats, settings_, seconds);
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
    n.rounds_early = a.early;
    n.averager_scheduling = a.scheduling;
    if (a.averager) {
      n.bytes_sent = a.averager->bytes_sent();
      n.bits_sent = a.averager->bits_sent();
      n.pushes_received = a.averager->pushes_received();
      n.copy_wait_seconds = a.averager->copy_wait_seconds();
      n.lost_nodes = a.averager->lost_nodes();
    }
    n.consensus = a.consensus;
    n.final_consensus_distance = a.final_consensus;
    n.final_average = a.final_averaged;
    r.node = std::move(n);
  }

  parameters_.assign(p.dimension, 0.0f);
  store.copy_to(std::span<float>(parameters_));
  if constexpr (evaluable_problem<Problem>) {
    if (settings_.evaluate) r.final_evaluation = problem_.evaluate(std::span<const float>(parameters_));
  }
  detail::add_curves(r, p, stats, settings_.batch, sh.evaluations, sh.epoch_eval, seconds - sh.paused + sh.time_offset);
  return r;
}

}  // namespace asgd::inline v0
