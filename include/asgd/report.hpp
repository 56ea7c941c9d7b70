#pragma once
/// @file
/// What a training run reports, and its JSON form.

#include <asgd/detail/files.hpp>
#include <asgd/detail/json.hpp>
#include <asgd/metrics/histogram.hpp>
#include <asgd/settings.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace asgd::inline v0 {

/// Training loss of one epoch.
struct epoch_record {
  std::size_t epoch = 0;       ///< 1-based
  double train_loss = 0.0;     ///< mean minibatch loss over the epoch's minibatches
  /// training time (pauses excluded) from the start until this epoch's minibatches and all
  /// earlier ones were done (a descheduled worker may finish an early one late)
  double seconds = 0.0;
  std::optional<evaluation> eval;  ///< filled by runs that evaluate at epoch ends
};

/// The model evaluated during a run (settings::evaluations_per_epoch, evaluate_epochs).
struct evaluation_point {
  std::uint64_t step = 0;  ///< minibatches done
  double epoch = 0.0;      ///< step / steps per epoch
  double seconds = 0.0;    ///< training time (pauses excluded)
  evaluation eval;
};

/// What a trainer's on_epoch callback receives at the end of an epoch.
struct epoch_progress {
  std::size_t epoch = 0;            ///< epochs completed (1-based)
  std::size_t epochs = 0;           ///< epochs in the run
  std::uint64_t steps = 0;          ///< minibatches done
  std::uint64_t total_steps = 0;    ///< minibatches in the run
  double train_loss = 0.0;          ///< mean minibatch loss over the epoch
  std::optional<evaluation> eval;   ///< the model at the epoch's end, when the problem can evaluate
  double seconds = 0.0;             ///< training time so far (pauses excluded)
  double samples_per_second = 0.0;  ///< over this run's training time
  double eta_seconds = 0.0;         ///< at this run's rate
};

/// One point of the loss curve.
struct loss_point {
  double seconds = 0.0;       ///< training time (pauses excluded) when this and every earlier interval were done
  std::uint64_t samples = 0;  ///< samples processed up to the end of the interval
  double epoch = 0.0;         ///< samples / samples per epoch
  double loss = 0.0;          ///< mean minibatch loss over the interval
};

/// The consensus distance measured after an averaging round.
struct consensus_point {
  std::uint64_t round = 0;  ///< rounds done
  double distance = 0.0;    ///< sum over nodes of |x_i - mean|^2

  /// `"consensus": [{"round": r, "distance": d}, ...]` into an open JSON object.
  static void write_all(detail::json_writer& j, const std::vector<consensus_point>& points) {
    j.key("consensus").begin_array();
    for (const auto& c : points) j.begin_object().field("round", c.round).field("distance", c.distance).end_object();
    j.end_array();
  }
};

/// What a node (a trainer whose topology averages) measured of its averaging.
struct node_report {
  std::size_t node = 0;
  std::size_t nodes = 1;
  std::string topology;
  std::string transport;
  std::string quantizer;
  bool blocking = false;
  std::uint64_t shard_samples = 0;   ///< training samples this node holds (settings.shards)
  std::uint64_t shard_classes = 0;   ///< classes among them (0: the problem names no classes)
  std::uint64_t rounds = 0;          ///< averaging rounds this node took part in (gossip: interactions it started)
  std::uint64_t pushes_received = 0; ///< gossip: other nodes' averages with this node's copy, taken into its model
  std::uint64_t skipped_interactions = 0;  ///< gossip: events that came due while the averager was busy, folded into the next
  /// Gossip: the nodes the group dropped (they left, or missed a collective's timeout); this
  /// node went on without them, and its final average is over the nodes left.
  std::vector<std::size_t> lost_nodes;
  double exchange_seconds = 0.0;     ///< time in rounds: snapshot, encode, exchange, decode, mix
  /// Gossip over transport::in_process: of that time, the time spent waiting for a published
  /// copy's lock (this node's, or a partner's) while another node's access held it; 0 for a
  /// transport that does not measure it (MPI's window locks may be taken lazily).
  double copy_wait_seconds = 0.0;
  double overlap = 0.0;              ///< share of exchange_seconds during which the workers kept computing
  double mix_lag = 0.0;              ///< mean node steps from a round's due step to its average landing (0 blocking)
  std::uint64_t mix_lag_max = 0;     ///< the most such steps
  /// Non-blocking rounds this node took before its own workers were due, because a peer had
  /// started them (settings.averaging.first_due_starts); since the run's start or resume.
  std::uint64_t rounds_early = 0;
  /// The averager thread's scheduling (settings.averaging.realtime_averager): "default",
  /// "real-time", or "default (real-time refused: why)"; "none: rounds on workers"
  /// (settings.averaging.rounds_on_workers); empty where no averager thread ran (blocking
  /// nodes, simulated runs).
  std::string averager_scheduling;
  std::uint64_t bytes_sent = 0;      ///< bytes this node sent to peers (all-reduce: its ring share;
                                     ///< gossip: the partners' copies it read and its pushes)
  std::uint64_t bits_sent = 0;       ///< the quantizer's bits for the same payloads
  std::vector<consensus_point> consensus;       ///< during the run (settings.averaging.consensus_every)
  double final_consensus_distance = 0.0;        ///< after the last step, before the final average
  bool final_average = false;                   ///< all nodes averaged once more at the end
};

/// What a simulated run (trainer::simulate) cost on the host. Every other time in its report
/// (wall_seconds, the curves, the epochs, samples_per_second) is virtual.
struct simulation_record {
  double host_seconds = 0.0;        ///< the run's wall time on the host
  std::uint64_t task_switches = 0;  ///< hand-overs between simulated workers (0: part of a larger simulation)
};

/// The result of `trainer::run()`.
struct report {
  // What ran.
  std::string problem;
  std::string consistency;
  std::string update_rule;
  std::string selector;
  settings used;

  // Throughput.
  double wall_seconds = 0.0;   ///< from start to end, pauses included
  double pause_seconds = 0.0;  ///< spent in evaluations and checkpoints while workers waited
  std::uint64_t steps = 0;    ///< minibatches processed
  std::uint64_t samples = 0;  ///< samples processed (steps * batch)
  double samples_per_second = 0.0;  ///< samples / (wall_seconds - pause_seconds)
  std::uint64_t resumed_at_step = 0;  ///< the checkpoint's step when the run was resumed, else 0
  std::uint64_t updates_applied = 0;
  std::uint64_t updates_dropped = 0;  ///< Leashed-SGD gradients past the persistence bound
  std::uint64_t model_version = 0;    ///< updates the store counted as applied

  // Convergence.
  std::vector<epoch_record> epochs;
  std::vector<loss_point> loss_curve;
  std::vector<evaluation_point> evaluations;  ///< during the run, then the final one
  std::optional<evaluation> final_evaluation;

  // Asynchrony.
  metrics::histogram staleness{256};    ///< per applied update measured (every `used.staleness_every`-th)
  metrics::histogram cas_retries{256};  ///< failed publications per step (Leashed-SGD; else all 0)
  std::size_t peak_live_versions = 1;   ///< most model buffers in use at once (Leashed-SGD: those allocated)
  std::size_t allocated_versions = 1;   ///< model buffers ever allocated (Leashed-SGD)

  // Averaging between nodes (a trainer whose topology averages; empty for a lone node).
  std::optional<node_report> node;
  /// Set when the run was simulated.
  std::optional<simulation_record> simulation;
  /// run_in_process with gossip: this node's run failed with this error and the others went
  /// on without it; nothing else of the report is set. Empty otherwise.
  std::string failure;

  [[nodiscard]] std::string to_json() const {
    detail::json_writer j;
    j.begin_object();
    j.field("asgd_version", version_string);
    j.field("problem", problem).field("consistency", consistency).field("update_rule", update_rule);
    j.field("selector", selector);
    std::ostringstream s;
    s << used;
    j.field("settings", s.str());
    j.field("threads", std::uint64_t{used.threads}).field("batch", std::uint64_t{used.batch});
    j.field("lr", used.lr).field("seed", used.seed);
    j.field("staleness_every", std::uint64_t{used.staleness_every});
    j.field("wall_seconds", wall_seconds).field("pause_seconds", pause_seconds);
    j.field("steps", steps).field("samples", samples).field("resumed_at_step", resumed_at_step);
    j.field("samples_per_second", samples_per_second);
    j.field("updates_applied", updates_applied).field("updates_dropped", updates_dropped);
    j.field("model_version", model_version);
    j.key("epochs").begin_array();
    for (const auto& e : epochs) {
      j.begin_object().field("epoch", std::uint64_t{e.epoch}).field("train_loss", e.train_loss);
      j.field("seconds", e.seconds);
      if (e.eval) j.field("eval_loss", e.eval->loss).field("eval_accuracy", e.eval->accuracy);
      j.end_object();
    }
    j.end_array();
    j.key("loss_curve").begin_array();
    for (const auto& p : loss_curve) {
      j.begin_object().field("seconds", p.seconds).field("samples", p.samples).field("epoch", p.epoch);
      j.field("loss", p.loss).end_object();
    }
    j.end_array();
    j.key("evaluations").begin_array();
    for (const auto& e : evaluations) {
      j.begin_object().field("step", e.step).field("epoch", e.epoch).field("seconds", e.seconds);
      j.field("loss", e.eval.loss).field("accuracy", e.eval.accuracy).end_object();
    }
    j.end_array();
    if (final_evaluation) {
      j.key("final_evaluation").begin_object();
      j.field("loss", final_evaluation->loss).field("accuracy", final_evaluation->accuracy).end_object();
    }
    write_histogram(j, "staleness", staleness);
    write_histogram(j, "cas_retries", cas_retries);
    j.field("peak_live_versions", std::uint64_t{peak_live_versions});
    j.field("allocated_versions", std::uint64_t{allocated_versions});
    if (!failure.empty()) j.field("failure", failure);
    if (simulation) {
      j.key("simulation").begin_object();
      j.field("host_seconds", simulation->host_seconds).field("task_switches", simulation->task_switches);
      j.end_object();
    }
    if (node) {
      const node_report& n = *node;
      j.key("node").begin_object();
      j.field("node", std::uint64_t{n.node}).field("nodes", std::uint64_t{n.nodes});
      j.field("topology", n.topology).field("transport", n.transport).field("quantizer", n.quantizer);
      j.field("shard_samples", n.shard_samples).field("shard_classes", n.shard_classes);
      j.field("blocking", n.blocking).field("rounds", n.rounds).field("exchange_seconds", n.exchange_seconds);
      j.field("copy_wait_seconds", n.copy_wait_seconds);
      j.field("overlap", n.overlap).field("mix_lag", n.mix_lag).field("mix_lag_max", n.mix_lag_max);
      j.field("rounds_early", n.rounds_early).field("averager_scheduling", n.averager_scheduling);
      j.field("bytes_sent", n.bytes_sent).field("bits_sent", n.bits_sent);
      j.field("pushes_received", n.pushes_received).field("skipped_interactions", n.skipped_interactions);
      j.array("lost_nodes", n.lost_nodes);
      consensus_point::write_all(j, n.consensus);
      j.field("final_consensus_distance", n.final_consensus_distance).field("final_average", n.final_average);
      j.end_object();
    }
    j.end_object();
    return j.str();
  }

  /// Writes to_json() to `path` atomically (temporary file, fsync, rename). A
  /// std::filesystem::path converts to `path` implicitly.
  void write_json(const std::string& path) const { detail::write_file_atomically(path, to_json() + "\n"); }

 private:
  static void write_histogram(detail::json_writer& j, std::string_view name, const metrics::histogram& h) {
    j.key(name).begin_object();
    j.field("total", h.total()).field("mean", h.mean()).field("max", h.max());
    j.field("p50", h.quantile(0.5)).field("p99", h.quantile(0.99));
    // Counts up to the last non-zero bin (the last bin is ">= bins-1").
    std::size_t n = h.counts().size();
    while (n > 1 && h.counts()[n - 1] == 0) --n;
    j.key("counts").begin_array();
    for (std::size_t i = 0; i < n; ++i) j.value(h.counts()[i]);
    j.end_array().end_object();
  }
};

}  // namespace asgd::inline v0
