// asgd-train: trains an MLP, the Leashed-SGD CNN or LeNet-5 on Fashion-MNIST with any
// consistency mode, update rule and block selector; prints progress, a summary, or a table
// comparing modes; writes the full report as JSON.
#include "gpu.hpp"
#include "options.hpp"
#include "run.hpp"

#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>
#include <asgd/detail/files.hpp>
#include <asgd/detail/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asgd_train {

bool built_with_mpi() { return ASGD_TRAIN_WITH_MPI != 0; }

asgd::report run_mode(const std::string& mode, const run_inputs& in) {
  using fn = asgd::report (*)(const run_inputs&);
  static const std::map<std::string, fn> modes = {
      {"sequential", run_sequential}, {"synchronous", run_synchronous}, {"locked", run_locked},
      {"hogwild", run_hogwild},       {"atomic_add", run_atomic_add},   {"leashed", run_leashed},
      {"bounded_staleness", run_bounded_staleness}, {"replicas", run_replicas}};
  return modes.at(mode)(in);
}

namespace {

std::string thousands(double v) {
  char buf[64];
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.0fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

asgd::problems::network make_network(const options& o, std::shared_ptr<const asgd::data::image_set> train,
                                     std::shared_ptr<const asgd::data::image_set> test) {
  if (o.model == "cnn") return asgd::problems::make_cnn(std::move(train), std::move(test));
  if (o.model == "lenet5") return asgd::problems::make_lenet5(std::move(train), std::move(test));
  return asgd::problems::make_mlp(std::move(train), std::move(test), o.hidden);
}

// The data set of `o` (standardised unless told not to) and its network; the lead process
// says what it trains, `where` added.
asgd::problems::network load_network(const options& o, bool lead, const char* where) {
  auto data = asgd::data::load_mnist_like(o.data);
  if (o.standardize) asgd::data::standardize(data);
  auto train = std::make_shared<const asgd::data::image_set>(std::move(data.train));
  auto test = std::make_shared<const asgd::data::image_set>(std::move(data.test));
  auto net = make_network(o, train, test);
  if (lead) {
    std::fprintf(stderr, "asgd-train: %s on %zu training and %zu test images (%s)%s\n",
                 asgd::detail::describe(net).c_str(), train->size(), test->size(), o.data.string().c_str(), where);
  }
  return net;
}

// --calibrate: the figures of this machine, measured now (the store operations over the
// network's size, its gradient at the run's batch, the nodes' quantizer), in place of those of the cost model of
// --simulate (with this machine's wake-up and sleep overshoot); its link, cores, shared
// bandwidth and slow node stay. Machines drift from day to
// day (1.5-3x here): a comparison with real runs calibrates beside them.
asgd::sim::cost_model calibrated_costs(const options& o, const asgd::problems::network& net, bool lead) {
  asgd::sim::cost_model m = *o.costs;
  const asgd::sim::cost_model measured = asgd::sim::calibrate_machine({.model_floats = net.dimension()});
  asgd::problems::network p = net;
  std::vector<float> x(net.dimension());
  p.initialize(x, o.seed);
  // 301 calls (about 30 ms for the MLP at batch 16): the library's default 31, the first
  // gradients of a fresh process, measured 10-15% slower than the rest and more spread. On each
  // core in turn, pooled: a run's threads land on any of them, and they need not be as fast.
  const std::vector<asgd::sim::duration> gradients =
      asgd::sim::on_each_cpu([&] { return asgd::sim::calibrate_gradient(p, x, o.batch, 301); });
  m.gradient_per_sample = asgd::sim::pooled(gradients);
  // An evaluation in a pause takes a core from the other nodes' training: the mean of each core's.
  const std::vector<double> evaluations = asgd::sim::on_each_cpu([&] { return asgd::sim::calibrate_evaluation(p, x); });
  m.evaluation_seconds =
      std::accumulate(evaluations.begin(), evaluations.end(), 0.0) / static_cast<double>(evaluations.size());
  m.copy_bandwidth = measured.copy_bandwidth;  // the update: each mode's own, calibrated_update
  m.shared_copy_bandwidth = measured.shared_copy_bandwidth;
  m.shared_write_bandwidth = measured.shared_write_bandwidth;
  m.stream_write_bandwidth = measured.stream_write_bandwidth;
  m.stream_read_bandwidth = measured.stream_read_bandwidth;
  m.atomic_seconds = measured.atomic_seconds;
  m.lock_seconds = measured.lock_seconds;
  m.line_handover_seconds = measured.line_handover_seconds;
  m.wake_seconds = measured.wake_seconds;
  m.wake_cpu_seconds = measured.wake_cpu_seconds;
  m.sleep_overshoot_seconds = measured.sleep_overshoot_seconds;
  if (lead) {
    std::fprintf(stderr,
                 "asgd-train: calibrated this machine: a sample's gradient %.3g us (sigma %.2f) at batch %zu, copies "
                 "%.3g GB/s (%.3g GB/s of another core's model; rewriting one another core read: %.3g GB/s more; streamed "
                 "out %.3g GB/s, read back %.3g GB/s), atomics "
                 "%.3g ns, locks %.3g ns, hand-overs %.3g ns, "
                 "wake-ups %.3g us (%.3g us of CPU), sleeps overshoot %.3g us, an evaluation %.3g ms\n",
                 1e6 * m.gradient_per_sample.median, m.gradient_per_sample.sigma, o.batch, m.copy_bandwidth / 1e9,
                 m.shared_copy_bandwidth / 1e9, m.shared_write_bandwidth / 1e9, m.stream_write_bandwidth / 1e9,
                 m.stream_read_bandwidth / 1e9, 1e9 * m.atomic_seconds, 1e9 * m.lock_seconds, 1e9 * m.line_handover_seconds, 1e6 * m.wake_seconds,
                 1e6 * m.wake_cpu_seconds, 1e6 * m.sleep_overshoot_seconds, 1e3 * m.evaluation_seconds);
    if (gradients.size() > 1) {
      std::string each;
      for (const asgd::sim::duration& g : gradients) {
        char us[32];
        std::snprintf(us, sizeof us, "%s%.3g", each.empty() ? "" : ", ", 1e6 * g.median);
        each += us;
      }
      std::fprintf(stderr, "asgd-train: a sample's gradient on each core in turn: %s us\n", each.c_str());
    }
  }
  if (o.nodes > 1) {  // the averagers' quantizer, encoding and decoding the network's model
    const auto quantizer = quantizer_for(o);
    const std::vector<asgd::sim::coding_seconds> coding =
        asgd::sim::on_each_cpu([&] { return asgd::sim::calibrate_quantizer(quantizer, net.dimension()); });
    m.encode_seconds = m.decode_seconds = 0.0;
    for (const asgd::sim::coding_seconds& c : coding) {  // the mean time of a core
      m.encode_seconds += c.encode / static_cast<double>(coding.size());
      m.decode_seconds += c.decode / static_cast<double>(coding.size());
    }
    if (lead) {
      std::fprintf(stderr, "asgd-train: calibrated the quantizer %s: encode %.3g ns, decode %.3g ns a coordinate\n",
                   o.quantize.c_str(), 1e9 * m.encode_seconds, 1e9 * m.decode_seconds);
    }
  }
  return m;
}

// --calibrate, for each mode: the run's update (its rule, through the path its store writes:
// racy with a private copy for HOGWILD!'s and bounded staleness's several workers; racy in
// place for one worker of theirs or of atomic_add beside a node's averager; plain stores for
// the rest and
// for a lone worker, one with no other worker at its model and no averager mixing while it runs)
// as the cost model's update bandwidth. A momentum update moves 20 bytes a coordinate, not the
// model's 12, and the racy paths are slower than the plain loop calibrate_machine times: 3 Dec
// 2026, the MLP's update charged 20 us a step against about 130 us measured in a real HOGWILD!
// run's profile.
double calibrated_update(const options& o, const asgd::problems::network& net, const std::string& mode, bool lead) {
  using asgd::sim::update_path;
  const bool racy = mode == "hogwild" || mode == "bounded_staleness";
  const bool solo = (racy || mode == "atomic_add") && o.threads == 1 && o.nodes > 1 && !o.averaging.blocking;
  const update_path path = solo ? update_path::solo : racy && o.threads > 1 ? update_path::shared : update_path::plain;
  const momentum_rule rule{.mu = o.momentum, .weight_decay = o.weight_decay, .nesterov = o.nesterov};
  // On each core in turn; the mean time of a core (the harmonic mean of the bandwidths).
  const std::vector<double> each =
      asgd::sim::on_each_cpu([&] { return asgd::sim::calibrate_update(rule, net.dimension(), path); });
  double seconds_per_byte = 0.0;
  for (const double b : each) seconds_per_byte += 1.0 / (b * static_cast<double>(each.size()));
  const double bandwidth = 1.0 / seconds_per_byte;
  if (lead) {
    std::fprintf(stderr, "asgd-train: calibrated %s's update (%s stores, the run's rule): %.3g GB/s of the model's "
                 "12 bytes a coordinate\n", mode.c_str(),
                 path == update_path::plain ? "plain" : path == update_path::solo ? "racy, in place" : "racy",
                 bandwidth / 1e9);
  }
  return bandwidth;
}

// `host_start`: a simulated run's start on this host (its times are virtual), else empty.
void print_progress(const std::string& mode, bool compare, const asgd::epoch_progress& e,
                    std::optional<std::chrono::steady_clock::time_point> host_start) {
  std::fprintf(stderr, "%s%sepoch %zu/%zu  train loss %.4f", compare ? mode.c_str() : "", compare ? ": " : "", e.epoch,
               e.epochs, e.train_loss);
  if (e.eval) std::fprintf(stderr, "  test loss %.4f  test acc %.2f%%", e.eval->loss, 100.0 * e.eval->accuracy);
  std::fprintf(stderr, "  %s samples/s  elapsed %.1f s  ETA %.1f s", thousands(e.samples_per_second).c_str(),
               e.seconds, e.eta_seconds);
  if (host_start) {
    const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - *host_start).count();
    std::fprintf(stderr, " (virtual; %.1f s on this host)", host);
  }
  std::fprintf(stderr, "\n");
}

// Training seconds until the first evaluation at `percent` test accuracy or more, if one was.
std::optional<double> time_to_accuracy(const asgd::report& r, double percent) {
  for (const auto& e : r.evaluations) {
    if (100.0 * e.eval.accuracy >= percent) return e.seconds;
  }
  return std::nullopt;
}

// A table cell: two decimals, or "-" for a value that does not exist.
std::string two_decimals_or_dash(std::optional<double> v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", *v);
  return buf;
}

void print_summary(const asgd::problems::network& net, const options& o, const asgd::report& r) {
  std::printf("%s: %s, %zu thread(s), %s, %s steps\n", r.problem.c_str(), r.consistency.c_str(), r.used.threads,
              r.update_rule.c_str(), r.selector.c_str());
  std::printf("  batch %zu, lr %g (%s), seed %llu, %zu epoch(s) = %llu steps%s\n", r.used.batch,
              static_cast<double>(r.used.lr), [&] {
                std::ostringstream os;
                os << r.used.lr_schedule;
                return os.str();
              }().c_str(),
              static_cast<unsigned long long>(r.used.seed), r.epochs.size(), static_cast<unsigned long long>(r.steps),
              r.resumed_at_step > 0 ? (" (resumed at step " + std::to_string(r.resumed_at_step) + ")").c_str() : "");
  std::printf("  time %.2f s (%.2f s evaluating), %s samples/s, %.2f GFLOP/s\n", r.wall_seconds, r.pause_seconds,
              thousands(r.samples_per_second).c_str(), r.samples_per_second * net.flops_per_sample() / 1e9);
  if (r.simulation) {
    std::printf("  simulated (--simulate %s): the times above are virtual; %.2f s on this host", o.simulate.c_str(),
                r.simulation->host_seconds);
    // Nodes share one simulation, whose switches no node's report counts.
    if (r.simulation->task_switches > 0) {
      std::printf(", %llu task switches", static_cast<unsigned long long>(r.simulation->task_switches));
    }
    std::printf("\n");
  }
  if (r.final_evaluation) {
    std::printf("  test accuracy %.2f%%, test loss %.4f\n", 100.0 * r.final_evaluation->accuracy,
                r.final_evaluation->loss);
  }
  std::printf("  updates %llu applied, %llu dropped; staleness mean %.2f, max %llu; peak model versions %zu\n",
              static_cast<unsigned long long>(r.updates_applied), static_cast<unsigned long long>(r.updates_dropped),
              r.staleness.mean(), static_cast<unsigned long long>(r.staleness.max()), r.peak_live_versions);
  if (o.target_accuracy > 0.0) {
    const auto t = time_to_accuracy(r, o.target_accuracy);
    if (t) {
      std::printf("  %.2f%% test accuracy after %.2f s of training\n", o.target_accuracy, *t);
    } else {
      std::printf("  %.2f%% test accuracy not reached (%zu evaluations)\n", o.target_accuracy, r.evaluations.size());
    }
  }
}

// The averaging part of a node run: one line for the setup, one per node this process saw.
// `ranks_share_memory`: the MPI ranks run on one machine (the workers' rounds then go through
// a shared-memory window, where a rank sees a peer's post).
void print_nodes(const std::vector<asgd::report>& reports, const options& o, bool ranks_share_memory) {
  const asgd::node_report& n0 = *reports.front().node;
  const bool gossip = is_gossip(o.topology);
  const std::string schedule = gossip ? std::string(o.topology.rfind("swarm", 0) == 0 ? "gossip after a mean of "
                                                                                         : "gossip after every ")
                                      : std::string("averaging every ");
  // Which node's steps start a non-blocking round (nccl calls none; over mpi across machines,
  // workers that take the rounds cannot see a peer's post before the collective completes).
  std::string start;
  if (!n0.blocking && !gossip) {
    const bool first_due = o.averaging.first_due_starts && o.transport != "nccl" &&
                           !(o.averaging.rounds_on_workers && o.transport == "mpi" && !ranks_share_memory);
    start = first_due ? " (a round starts when its first node is due)" : " (a round waits for its last node)";
  }
  if (o.averaging.realtime_averager) start += ", averager " + n0.averager_scheduling;
  if (o.averaging.rounds_on_workers) start += ", taken by the workers";
  std::ostringstream shards;
  shards << o.shards;
  std::printf("  %zu nodes over %s, topology %s, quantizer %s, %s %s%zu steps%s%s; %s shards\n", n0.nodes,
              o.transport.c_str(), n0.topology.c_str(), n0.quantizer.c_str(), n0.blocking ? "blocking" : "non-blocking",
              schedule.c_str(), o.averaging.every, start.c_str(), n0.final_average ? ", then a final global average" : "",
              shards.str().c_str());
  for (std::size_t k = 0; k < reports.size(); ++k) {
    const asgd::report& r = reports[k];
    if (!r.failure.empty()) {
      std::printf("  node %zu: dropped by the others: %s\n", k, r.failure.c_str());
      continue;
    }
    const asgd::node_report& n = *r.node;
    char waited[64] = "";
    if (gossip && n.copy_wait_seconds > 0.0) {
      std::snprintf(waited, sizeof waited, ", %.3f s waiting for copies", n.copy_wait_seconds);
    }
    const std::string rounds =
        gossip ? std::to_string(n.rounds) + " interactions started (" + std::to_string(n.skipped_interactions) +
                     " more folded in), " + std::to_string(n.pushes_received) + " received"
               : std::to_string(n.rounds) + " rounds";
    std::printf("  node %zu: %llu samples (%llu classes), test acc %.2f%%, %s, %.3f s exchanging (%.0f%% overlapped, "
                "landing %.1f steps late, at most %llu%s), %.2f MB sent, consensus distance %.3g\n",
                n.node, static_cast<unsigned long long>(n.shard_samples), static_cast<unsigned long long>(n.shard_classes),
                r.final_evaluation ? 100.0 * r.final_evaluation->accuracy : 0.0, rounds.c_str(),
                n.exchange_seconds, 100.0 * n.overlap, n.mix_lag, static_cast<unsigned long long>(n.mix_lag_max),
                waited,
                static_cast<double>(n.bytes_sent) / 1e6,
                n.final_consensus_distance);
    if (!n.lost_nodes.empty()) {
      std::string lost;
      for (std::size_t l : n.lost_nodes) lost += (lost.empty() ? "" : ", ") + std::to_string(l);
      std::printf("    went on without node(s) %s\n", lost.c_str());
    }
  }
  if (reports.size() < n0.nodes) std::printf("  (the other ranks printed nothing; every rank ran the same schedule)\n");
}

// The --compare table. `sequential` and `calibration` are the reference rates (0: not run): the
// speed-up columns divide by them.
void print_table(const std::vector<std::pair<std::string, asgd::report>>& runs, const options& o, double sequential,
                 double calibration) {
  char target[32];
  std::snprintf(target, sizeof target, "to %g%% [s]", o.target_accuracy);
  std::printf("\n%-18s %7s %9s %10s %6s %7s %9s %9s %9s %8s %8s", "mode", "threads", "time [s]", "samples/s", "x seq",
              "x calib", "test acc", "test loss", "stale", "dropped", "versions");
  if (o.target_accuracy > 0.0) std::printf(" %12s", target);
  std::printf("\n");
  auto ratio = [](double a, double b) { return two_decimals_or_dash(b > 0.0 ? std::optional(a / b) : std::nullopt); };
  for (const auto& [mode, r] : runs) {
    std::printf("%-18s %7zu %9.2f %10s %6s %7s %8.2f%% %9.4f %9.2f %8llu %8zu", mode.c_str(), r.used.threads,
                r.wall_seconds - r.pause_seconds, thousands(r.samples_per_second).c_str(),
                ratio(r.samples_per_second, sequential).c_str(), ratio(r.samples_per_second, calibration).c_str(),
                r.final_evaluation ? 100.0 * r.final_evaluation->accuracy : 0.0,
                r.final_evaluation ? r.final_evaluation->loss : 0.0, r.staleness.mean(),
                static_cast<unsigned long long>(r.updates_dropped), r.peak_live_versions);
    if (o.target_accuracy > 0.0) std::printf(" %12s", two_decimals_or_dash(time_to_accuracy(r, o.target_accuracy)).c_str());
    std::printf("\n");
  }
  std::printf("(time excludes the evaluations; x seq: samples/s over sequential SGD's on one thread;\n"
              " x calib: over the calibration, --threads sequential trainers at once on private models,\n"
              " the machine's ceiling for the same work%s)\n",
              o.target_accuracy > 0.0 ? "; to P%: training seconds to that test accuracy" : "");
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

}  // namespace
}  // namespace asgd_train

namespace asgd_train {
namespace {

// The run's training time: its slowest node's (under mpi, rank 0's; it ends after the final
// collective, with the others).
double training_seconds(const std::vector<asgd::report>& reports) {
  double t = 0.0;
  for (const auto& r : reports) t = std::max(t, r.wall_seconds - r.pause_seconds);
  return t;
}

// --exposed: training times of the runs with exchanges and with no-op exchanges, interleaved.
struct exposure {
  std::vector<double> with, without;
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  }
  [[nodiscard]] double exposed() const { return median(with) - median(without); }
};

void print_exposure(const exposure& e, const std::vector<asgd::report>& reports) {
  double overlap = 0.0;
  for (const auto& r : reports) overlap += r.node->overlap / static_cast<double>(reports.size());
  const auto [wlo, whi] = std::minmax_element(e.with.begin(), e.with.end());
  const auto [nlo, nhi] = std::minmax_element(e.without.begin(), e.without.end());
  const double with = exposure::median(e.with);
  std::printf("  exposed communication %.3f s (%.0f%% of the training time): median %.3f s (%.3f-%.3f) with "
              "exchanges, %.3f s (%.3f-%.3f) with no-op exchanges, %zu runs each, interleaved; the averagers' "
              "overlap figure: %.0f%%\n",
              e.exposed(), with > 0.0 ? 100.0 * e.exposed() / with : 0.0, with, *wlo, *whi,
              exposure::median(e.without), *nlo, *nhi, e.with.size(), 100.0 * overlap);
}

// Trains every mode of `o`; under mpi this process is one rank (`mpi_endpoint`).
int train_all(const options& given, int argc, char** argv, std::optional<any_transport> mpi_endpoint) {
  const bool over_mpi = mpi_endpoint.has_value();
  const std::size_t rank = over_mpi ? mpi_endpoint->node_id() : 0;
  const bool lead = rank == 0;  // node 0 prints
  bool ranks_share_memory = false;
#if ASGD_TRAIN_WITH_MPI
  if (over_mpi) {
    mpi_endpoint->visit([&](const auto& t) {
      if constexpr (requires { t.ranks_share_memory(); }) ranks_share_memory = t.ranks_share_memory();
    });
  }
#endif
  const auto net = load_network(given, lead, "");
  options o = given;
  if (o.calibrate) o.costs = calibrated_costs(o, net, lead);

  std::vector<std::pair<std::string, std::vector<asgd::report>>> runs;
  std::vector<std::pair<std::string, exposure>> exposures;
  std::optional<asgd::sim::cost_model> ran_costs;  // --simulate (one mode): the cost model the run used
  for (const auto& mode : o.modes) {
    options om = o;  // the mode's run: with --calibrate, its own update's figure
    if (o.calibrate) om.costs->update_bandwidth = calibrated_update(o, net, mode, lead);
    ran_costs = om.costs;
    progress_fn progress;
    std::optional<std::chrono::steady_clock::time_point> host_start;
    if (o.costs) host_start = std::chrono::steady_clock::now();
    if (!o.quiet && lead) {
      progress = [&](const asgd::epoch_progress& e) { print_progress(mode, o.compare, e, host_start); };
    }
    // --record: each node's trainer records into its own recording; --replay: each replays its own.
    std::vector<asgd::sim::recording> recordings;
    if (!o.replay.empty()) {
      recordings = asgd::sim::recording::load_nodes(o.replay);
      if (recordings.size() != o.nodes) {
        throw std::runtime_error("asgd-train: --replay " + o.replay.string() + " holds the recordings of " +
                                 std::to_string(recordings.size()) + " node(s); replay it with --nodes " +
                                 std::to_string(recordings.size()));
      }
    } else if (!o.record.empty()) {
      recordings.resize(o.nodes);
    }
    // `recs`: node k records into or replays (*recs)[k]; the runs of --exposed pass none.
    auto run_once = [&](const options& with, const progress_fn& shown,
                        std::vector<asgd::sim::recording>* recs = nullptr) {
      std::vector<asgd::report> reports;
      auto recording_of = [recs](std::size_t k) { return recs != nullptr && !recs->empty() ? &(*recs)[k] : nullptr; };
      // --straggler-slowdown slows node 0 (rank 0) only.
      options others = with;
      others.straggler_slowdown = 1.0;
      if (over_mpi) {
        reports.push_back(run_mode(mode, {net, rank == 0 ? with : others, shown, *mpi_endpoint}));
      } else if (with.nodes > 1) {
        const asgd::transport::in_process::link link{.latency = with.latency, .bandwidth = with.bandwidth,
                                                     .straggler = 0, .straggler_delay = with.straggler_delay,
                                                     .timeout = with.timeout};
        const progress_fn none;
        auto node = [&](std::size_t k, asgd::transport::in_process endpoint) {
          return run_mode(mode, {net, k == 0 ? with : others, k == 0 ? shown : none, any_transport{std::move(endpoint)},
                                 recording_of(k)});
        };
        reports = with.costs ? asgd::sim::run_in_process(with.nodes, node, *with.costs, with.seed, link)
                             : asgd::run_in_process(with.nodes, node, link);
        // A gossip group finishes without a node that failed; node 0 prints the run, so its
        // failure is the run's.
        if (!reports.front().failure.empty()) throw std::runtime_error(reports.front().failure);
      } else {
        reports.push_back(
            run_mode(mode, {net, with, shown, any_transport{asgd::transport::in_process{}}, recording_of(0)}));
      }
      return reports;
    };
    runs.emplace_back(mode, run_once(om, progress, &recordings));
    if (!o.record.empty()) {  // one node's file is one recording, as trainer::record writes it
      if (recordings.size() == 1) {
        recordings.front().save(o.record);
      } else {
        asgd::sim::recording::save_nodes(o.record, recordings);
      }
    }
    if (o.exposed > 0) {  // the run above warms up; then pairs, the baseline first
      exposure e;
      options baseline = om;
      baseline.averaging.exchange = false;
      const progress_fn none;
      for (std::size_t i = 0; i < o.exposed; ++i) {
        e.without.push_back(training_seconds(run_once(baseline, none)));
        e.with.push_back(training_seconds(run_once(om, none)));
      }
      exposures.emplace_back(mode, std::move(e));
    }
    if (lead && !o.compare) {
      print_summary(net, o, runs.back().second.front());
      if (runs.back().second.front().node->nodes > 1) print_nodes(runs.back().second, o, ranks_share_memory);
      if (o.exposed > 0) print_exposure(exposures.back().second, runs.back().second);
    }
  }
  if (!lead) return 0;
  if (o.compare) {
    std::vector<std::pair<std::string, asgd::report>> first;
    for (const auto& [mode, reports] : runs) first.emplace_back(mode, reports.front());
    double sequential = 0.0, calibration = 0.0;
    if (!over_mpi && o.nodes == 1) {
      // The references, run after the modes: sequential SGD (unless it was compared already) and
      // the calibration, o.threads sequential trainers at once, each on its own model and seed.
      for (const auto& [mode, r] : first) {
        if (mode == "sequential") sequential = r.samples_per_second;
      }
      const progress_fn none;
      if (sequential == 0.0) {
        first.emplace_back("sequential", run_mode("sequential", {net, o, none, any_transport{asgd::transport::in_process{}}}));
        sequential = first.back().second.samples_per_second;
      }
      std::vector<double> rates(o.threads, 0.0);
      std::vector<std::thread> threads;
      std::exception_ptr error;
      std::mutex error_mutex;
      for (std::size_t w = 0; w < o.threads; ++w) {
        threads.emplace_back([&, w] {
          try {
            options own = o;
            own.seed = o.seed + w;
            rates[w] = run_mode("sequential", {net, own, none, any_transport{asgd::transport::in_process{}}})
                           .samples_per_second;
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!error) error = std::current_exception();
          }
        });
      }
      for (auto& t : threads) t.join();
      if (error) std::rethrow_exception(error);
      for (double r : rates) calibration += r;
    }
    print_table(first, o, sequential, calibration);
  }
  if (!o.json.empty()) {
    std::string out = "{\"tool\": \"asgd-train\", \"command\": ";
    asgd::detail::json_writer cmd;
    cmd.value(command_line(argc, argv));
    out += cmd.str() + ", \"model\": \"" + o.model + "\", \"flops_per_sample\": " +
           std::to_string(net.flops_per_sample());
    if (ran_costs) {  // a simulated run's cost model, in its file format (measured, with --calibrate)
      asgd::detail::json_writer costs;
      costs.value(asgd::sim::to_text(*ran_costs));
      out += ", \"cost_model\": " + costs.str();
    }
    out += ", \"runs\": [";
    bool first = true;
    for (const auto& [mode, reports] : runs) {  // every node's report (under mpi, rank 0's)
      for (const auto& r : reports) {
        out += (first ? "" : ", ") + r.to_json();
        first = false;
      }
    }
    out += "]";
    if (!exposures.empty()) {  // --exposed: per mode, the training times with and without exchanges
      asgd::detail::json_writer j;
      j.begin_array();
      for (const auto& [mode, e] : exposures) {
        j.begin_object().field("mode", mode).field("exposed_seconds", e.exposed());
        j.key("with_exchanges").begin_array();
        for (double t : e.with) j.value(t);
        j.end_array().key("without_exchanges").begin_array();
        for (double t : e.without) j.value(t);
        j.end_array().end_object();
      }
      j.end_array();
      out += ", \"exposed\": " + j.str();
    }
    out += "}\n";
    asgd::detail::write_file_atomically(o.json, out);
  }
  return 0;
}

std::size_t ranks_node([[maybe_unused]] const asgd::transport::mpi& ranks) {
#if ASGD_TRAIN_WITH_MPI
  return ranks.node_id();
#else
  return 0;  // never called: only --transport nccl has ranks
#endif
}

// --device cuda: every mode of `o` on this process's GPU; under --transport nccl this process
// is the node `ranks` names. The host builds the network (initial model, blocks) and
// evaluates the model that comes back.
int train_gpu_all(const options& o, int argc, char** argv, const asgd::transport::mpi* ranks) {
  const std::size_t rank = ranks != nullptr ? ranks_node(*ranks) : 0;
  const bool lead = rank == 0;
  cuda_devices();  // before the data loads: a machine without a GPU is told at once
  const auto net = load_network(o, lead, ", on the GPU");
  const asgd::data::image_set* train = &net.train_set();
  gpu_job job{.train = train, .layout = net.layout(), .inputs = train->rows * train->cols,
              .initial = std::vector<float>(net.dimension()), .mode = {}, .persistence = o.persistence, .select = o.select,
              .blocks = o.blocks, .select_warmup = o.select_warmup, .nesterov = o.nesterov, .momentum = o.momentum,
              .weight_decay = o.weight_decay, .lr = o.lr, .lr_schedule = o.lr_schedule, .workers = o.gpu_workers,
              .epochs = static_cast<double>(o.epochs), .steps = o.steps, .batch = o.batch, .seed = o.seed,
              .ranks = ranks, .topology = o.topology, .fraction = o.fraction, .quantize = o.quantize,
              .average_every = o.averaging.every, .final_average = o.averaging.final_average,
              .consensus_every = o.averaging.consensus_every};
  net.initialize(job.initial, o.seed);

  std::vector<std::pair<std::string, std::pair<gpu_outcome, asgd::evaluation>>> runs;
  std::string out = "{\"tool\": \"asgd-train\", \"device\": \"cuda\", \"command\": ";
  asgd::detail::json_writer w;
  w.value(command_line(argc, argv));
  out += w.str() + ", \"model\": \"" + o.model + "\", \"runs\": [";
  for (const auto& mode : o.modes) {
    job.mode = mode;
    gpu_outcome r = train_on_gpu(job);
    const asgd::evaluation e = net.evaluate(r.model);
    const double samples_per_second = r.seconds > 0 ? static_cast<double>(r.steps * o.batch) / r.seconds : 0.0;
    if (lead && !o.compare) {
      std::printf("%s: %s on %s, %zu GPU worker(s), %s, %s steps\n", asgd::detail::describe(net).c_str(), mode.c_str(),
                  r.device.c_str(), o.gpu_workers, o.nesterov ? "nesterov" : "momentum", o.select.c_str());
      std::printf("  batch %zu, lr %g, seed %llu, %llu steps\n", o.batch, static_cast<double>(o.lr),
                  static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(r.steps));
      std::printf("  time %.2f s, %s samples/s, %.2f GFLOP/s\n", r.seconds, thousands(samples_per_second).c_str(),
                  samples_per_second * net.flops_per_sample() / 1e9);
      std::printf("  test accuracy %.2f%%, test loss %.4f\n", 100.0 * e.accuracy, e.loss);
      std::printf("  updates %llu applied, %llu dropped; staleness mean %.2f; write conflicts %llu\n",
                  static_cast<unsigned long long>(r.steps - r.dropped), static_cast<unsigned long long>(r.dropped),
                  r.steps > r.dropped ? static_cast<double>(r.staleness_sum) / static_cast<double>(r.steps - r.dropped) : 0.0,
                  static_cast<unsigned long long>(r.conflicts));
      if (o.transport == "nccl") {
        std::printf("  %zu nodes over nccl, topology %s, quantizer %s, non-blocking averaging every %zu steps%s: "
                    "%llu rounds, %.3f s averaging, %.2f MB sent, consensus distance %.3g\n",
                    r.nodes, o.topology.c_str(), o.quantize.c_str(), o.averaging.every,
                    o.averaging.final_average ? ", then a final global average" : "",
                    static_cast<unsigned long long>(r.rounds), r.averaging_seconds, static_cast<double>(r.bytes_sent) / 1e6,
                    r.final_consensus_distance);
      }
    }
    asgd::detail::json_writer j;
    j.begin_object()
        .field("consistency", mode)
        .field("device", r.device)
        .field("gpu_workers", std::uint64_t{o.gpu_workers})
        .field("selector", o.select)
        .field("steps", r.steps)
        .field("dropped", r.dropped)
        .field("conflicts", r.conflicts)
        .field("staleness_sum", r.staleness_sum)
        .field("seconds", r.seconds)
        .field("samples_per_second", samples_per_second)
        .field("test_accuracy", e.accuracy)
        .field("test_loss", e.loss)
        .field("node", std::uint64_t{r.node})
        .field("nodes", std::uint64_t{r.nodes})
        .field("rounds", r.rounds)
        .field("bytes_sent", r.bytes_sent)
        .field("final_consensus_distance", r.final_consensus_distance);
    asgd::consensus_point::write_all(j, r.consensus);
    j.end_object();
    out += (runs.empty() ? "" : ", ") + j.str();
    runs.emplace_back(mode, std::pair{std::move(r), e});
  }
  out += "]}\n";
  if (!lead) return 0;
  if (o.compare) {
    std::printf("\n%-12s %8s %9s %10s %9s %9s %9s %8s %10s\n", "mode", "workers", "time [s]", "samples/s", "test acc",
                "test loss", "stale", "dropped", "conflicts");
    for (const auto& [mode, run] : runs) {
      const auto& [r, e] = run;
      std::printf("%-12s %8zu %9.2f %10s %8.2f%% %9.4f %9.2f %8llu %10llu\n", mode.c_str(), o.gpu_workers, r.seconds,
                  thousands(r.seconds > 0 ? static_cast<double>(r.steps * o.batch) / r.seconds : 0.0).c_str(),
                  100.0 * e.accuracy, e.loss,
                  r.steps > r.dropped ? static_cast<double>(r.staleness_sum) / static_cast<double>(r.steps - r.dropped) : 0.0,
                  static_cast<unsigned long long>(r.dropped), static_cast<unsigned long long>(r.conflicts));
    }
  }
  if (!o.json.empty()) asgd::detail::write_file_atomically(o.json, out);
  return 0;
}

}  // namespace
}  // namespace asgd_train

int main(int argc, char** argv) {
  using namespace asgd_train;
  options o;
  try {
    o = parse(argc, argv);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  if (o.help) {
    std::fputs(help_text().c_str(), stdout);
    return 0;
  }
#if ASGD_TRAIN_WITH_MPI
  // Outlives train_all, so an error is printed before the environment ends MPI (or, after a
  // lost rank, aborts the job).
  std::optional<asgd::transport::mpi::environment> mpi_env;
#endif
  try {
    // Outputs that cannot be written fail now, not after the run (exit 1, like missing data).
    if (!o.json.empty()) asgd::detail::check_writable(o.json, "the report to");
    if (!o.checkpoint.empty()) asgd::detail::check_writable(o.checkpoint, "checkpoints to");
    if (!o.record.empty()) asgd::detail::check_writable(o.record, "the recording to");
    if (o.device == "cuda") {
#if ASGD_TRAIN_WITH_MPI
      if (o.transport == "nccl") {  // a node per rank; the parser refused nccl in builds without it
        mpi_env.emplace(argc, argv);
        const asgd::transport::mpi ranks(asgd::transport::mpi::options{.timeout = o.timeout});
        return train_gpu_all(o, argc, argv, &ranks);
      }
#endif
      return train_gpu_all(o, argc, argv, nullptr);
    }
    std::optional<any_transport> mpi_endpoint;
#if ASGD_TRAIN_WITH_MPI
    if (o.transport == "mpi") {
      mpi_env.emplace(argc, argv);
      mpi_endpoint = any_transport{asgd::transport::mpi(asgd::transport::mpi::options{.timeout = o.timeout})};
    }
#endif
    return train_all(o, argc, argv, std::move(mpi_endpoint));
  } catch (const std::invalid_argument& e) {  // settings the trainer refused (e.g. batch > samples)
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // data, divergence, checkpoint, file, lost-node errors
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
