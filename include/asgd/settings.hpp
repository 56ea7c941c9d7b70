#pragma once
/// @file
/// The run-time settings of a training run: a plain aggregate, filled with designated
/// initializers and checked when the run starts.

#include <asgd/detail/config.hpp>
#include <asgd/detail/json.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/schedule.hpp>
#include <asgd/shards.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace asgd::inline v0 {

/// How workers draw their minibatches.
enum class sampling {
  shared,   ///< every worker shuffles the whole data set with its own seed (LAP-SGD's code)
  sharded,  ///< worker w shuffles only its 1/workers share of the samples
};

/// When a node averages its model with other nodes (a trainer whose topology is not
/// `topology::none`). Steps count the node's minibatches, all its workers together (LAP-SGD's
/// node-wide counter).
struct averaging_settings {
  std::size_t every = 8;              ///< H: node steps between averaging rounds, >= 1
  double local_after_epoch = 0.0;     ///< post-local SGD: average after every step before this epoch, every H after
  bool blocking = false;              ///< workers pause while the node averages (local SGD's classic form)
  bool final_average = true;          ///< all nodes average once more after the last step (a global mean)
  std::size_t consensus_every = 0;    ///< rounds between consensus-distance measurements (0: only at the end)
  /// false: every round or gossip event keeps the node's own model, with no encode, transfer,
  /// decode or mix (snapshot and mix-in still run, with a zero change): the run to subtract from
  /// the same run with exchanges for the communication time it exposed. Setup and the final
  /// average still communicate.
  bool exchange = true;
  /// Non-blocking: a worker that finishes a step waits while the oldest round not yet mixed in was
  /// due more than this many node steps ago (0: never waits). Bounds report.node->mix_lag to about
  /// this plus the steps workers claimed before the bound was reached.
  std::size_t max_lag = 0;
  /// Non-blocking rounds (not gossip): a round starts when the first node is due for it, and the
  /// others' averagers take it then, wherever their workers are (LAP-SGD's averagers average
  /// together once any node is H steps on); false: each node joins when its own workers are due,
  /// so a round waits for its last node. Transports that cannot call rounds (concept
  /// asgd::round_calling_transport) always wait for the last node.
  bool first_due_starts = true;
  /// Non-blocking: the averager thread asks the OS for real-time scheduling (SCHED_FIFO at its
  /// lowest priority), so a round it is due for preempts the workers instead of waiting for a
  /// core they hold. Needs the privilege (root, CAP_SYS_NICE or an RLIMIT_RTPRIO above 0);
  /// without it the averager runs at the default priority, and report.node->averager_scheduling
  /// says why.
  bool realtime_averager = false;
  /// Non-blocking all-reduce rounds (topology::all_reduce over a transport with a split-phase
  /// all-reduce: in_process, mpi): no averager thread; the worker that finishes a step when a round is
  /// due posts the node's snapshot, and a worker mixes the mean in at the first step after the
  /// last node posted. Rounds then need no core of their own, which an averager thread does
  /// not have where workers take every core. While a round is out, each of the node's workers
  /// yields its core after every step, so that where nodes share fewer cores than they have
  /// workers, the other nodes' workers get theirs to post and land it.
  bool rounds_on_workers = false;

  void validate() const {
    detail::require(every >= 1, "settings.averaging", "every", every, "must be at least 1");
    detail::require(!(realtime_averager && blocking), "settings.averaging", "realtime_averager", realtime_averager,
                    "applies to non-blocking averaging: a blocking node has no averager thread");
    detail::require(!(rounds_on_workers && blocking), "settings.averaging", "rounds_on_workers", rounds_on_workers,
                    "applies to non-blocking averaging: a blocking node's workers wait for its rounds");
    detail::require(!(rounds_on_workers && realtime_averager), "settings.averaging", "rounds_on_workers",
                    rounds_on_workers, "leaves no averager thread for realtime_averager to schedule");
    detail::require(std::isfinite(local_after_epoch) && local_after_epoch >= 0.0, "settings.averaging",
                    "local_after_epoch", local_after_epoch, "must be a finite number >= 0");
  }

  friend bool operator==(const averaging_settings&, const averaging_settings&) = default;
  friend std::ostream& operator<<(std::ostream& os, const averaging_settings& a) {
    return os << "{.every = " << a.every << ", .local_after_epoch = " << a.local_after_epoch
              << ", .blocking = " << (a.blocking ? "true" : "false")
              << ", .final_average = " << (a.final_average ? "true" : "false")
              << ", .consensus_every = " << a.consensus_every << ", .exchange = " << (a.exchange ? "true" : "false")
              << ", .max_lag = " << a.max_lag << ", .first_due_starts = " << (a.first_due_starts ? "true" : "false")
              << ", .realtime_averager = " << (a.realtime_averager ? "true" : "false")
              << ", .rounds_on_workers = " << (a.rounds_on_workers ? "true" : "false") << '}';
  }
};

/// Settings of one training run. Every field has a default; `validate()` (called by
/// `trainer::run`) throws std::invalid_argument naming the first bad field and its value.
struct settings {
  /// The longest run, in minibatches: 2^53, so that every step number is exact as a double.
  static constexpr std::size_t max_steps = std::size_t{1} << 53;
  /// The most loss-curve points and epochs a run records (each worker keeps its own bins).
  static constexpr std::size_t max_bins = std::size_t{1} << 20;

  std::size_t threads = 1;  ///< worker threads, 1 .. the mode's max_workers
  std::size_t epochs = 1;   ///< passes over the data (ignored when `steps` > 0)
  std::size_t steps = 0;    ///< minibatches in total, over all workers; 0 = epochs * ceil(samples / batch)
  std::size_t batch = 16;   ///< samples per minibatch, 1 .. samples
  float lr = 0.01f;         ///< base learning rate, > 0
  std::uint64_t seed = 1;   ///< initial model, sampling and random block choices

  schedule lr_schedule = {};                ///< lr multiplier over epochs, taken where the run is when an update lands
  staleness_scaling staleness = {};         ///< lr multiplier by staleness
  /// Measure the staleness of every n-th update of each worker where measuring costs a shared
  /// access per step (hogwild, atomic_add, bounded_staleness); other modes measure every update
  /// for free. 0 = automatic: 1 when `staleness` scales the step by it or the run is simulated
  /// (trainer::simulate), else 64.
  std::size_t staleness_every = 0;
  sampling sample_order = sampling::shared;

  std::size_t log_every = 0;  ///< minibatches per loss-curve point; 0 = about 20 points per epoch
  bool evaluate = true;         ///< evaluate the final model when the problem can
  /// Also evaluate at every epoch's end: all workers pause, except on a node that averages
  /// without blocking, which evaluates a copy of the model in the background
  /// (`background_evaluations`).
  bool evaluate_epochs = false;
  /// Evaluate at an epoch's end (evaluate_epochs, or an on_epoch callback) only where the
  /// epochs done reach a multiple of this, and at the run's end; the other epoch ends are
  /// reported without an evaluation. For runs of many short epochs (nodes on small shards).
  std::size_t epochs_per_evaluation = 1;
  std::size_t evaluations_per_epoch = 0;  ///< evaluate this often within each epoch too (0: only as above)
  /// A node that averages without blocking evaluates during training on a thread of its own,
  /// from a copy of the model, while its workers go on: when its workers waited, the other
  /// nodes ran ahead at every evaluation. The evaluation's CPU is then taken from training on
  /// the same cores, so frequent evaluations slow it; false: the workers wait, as in every other
  /// run, and the pause is not training time.
  bool background_evaluations = true;
  averaging_settings averaging = {};      ///< between nodes; ignored by a single node
  sharding shards = {};                   ///< how nodes split the samples; ignored by a single node
  /// A straggler, for experiments: each step's worker sleeps (compute_slowdown - 1) times the
  /// CPU time its gradient took, between the gradient and the update, as a machine this
  /// many times slower would (it holds no core while it sleeps; the time it waited for a core
  /// does not count, and what a sleep overshoots is taken off the next). 1: off. Give it to one
  /// node of a group to study a slow node.
  double compute_slowdown = 1.0;

  ASGD_DECL void validate() const;

  friend bool operator==(const settings&, const settings&) = default;
  friend std::ostream& operator<<(std::ostream& os, const settings& s) {
    return os << "{.threads = " << s.threads << ", .epochs = " << s.epochs << ", .steps = " << s.steps
              << ", .batch = " << s.batch << ", .lr = " << s.lr << ", .seed = " << s.seed
              << ", .lr_schedule = " << s.lr_schedule << ", .staleness = " << s.staleness
              << ", .staleness_every = " << s.staleness_every
              << ", .sample_order = " << (s.sample_order == sampling::shared ? "shared" : "sharded")
              << ", .log_every = " << s.log_every << ", .evaluate = " << (s.evaluate ? "true" : "false")
              << ", .evaluate_epochs = " << (s.evaluate_epochs ? "true" : "false")
              << ", .epochs_per_evaluation = " << s.epochs_per_evaluation
              << ", .evaluations_per_epoch = " << s.evaluations_per_epoch
              << ", .background_evaluations = " << (s.background_evaluations ? "true" : "false")
              << ", .averaging = " << s.averaging
              << ", .shards = " << s.shards << ", .compute_slowdown = " << s.compute_slowdown << '}';
  }
};

}  // namespace asgd::inline v0

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/settings.ipp>
#endif
