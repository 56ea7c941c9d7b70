#pragma once
/// @file
/// `asgd::trainer`: one problem, policies in any order, threads sharing one model.

#include <asgd/checkpoint.hpp>
#include <asgd/concepts.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/detail/averager.hpp>
#include <asgd/detail/checks.hpp>
#include <asgd/detail/describe.hpp>
#include <asgd/detail/files.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/sampler.hpp>
#include <asgd/detail/slots.hpp>
#include <asgd/detail/step_claims.hpp>
#include <asgd/detail/threads.hpp>
#include <asgd/detail/time_stamp.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/report.hpp>
#include <asgd/select/full.hpp>
#include <asgd/settings.hpp>
#include <asgd/topology/none.hpp>
#include <asgd/transport/in_process.hpp>
#include <asgd/update/sgd.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0 {

namespace detail {
// ceil(n / d) without the overflow of (n + d - 1) / d near 2^64.
constexpr std::uint64_t ceil_div(std::uint64_t n, std::uint64_t d) noexcept { return n / d + (n % d != 0); }

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
// Reads what write_values wrote into `v`; this run has room for `limit` entries (more than the
// checkpoint's when it runs longer).
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
}  // namespace detail

/// Thrown when training breaks down (a NaN or infinite loss); the message names the step, the
/// epoch, the worker and the consistency mode.
class training_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Trains `Problem` with worker threads sharing one model.
///
/// `Policies...` are policy types in any order, at most one per kind; a missing kind takes its
/// default: `update::sgd`, `select::full`, `consistency::hogwild`, `topology::none`,
/// `transport::in_process`, `quantize::identity`. An argument that is not a policy, a second
/// policy of one kind, or a policy that misses a clause of its concept is a compile error whose
/// message starts with "asgd:" and names the problem.
///
/// ```
/// asgd::trainer<my_problem, asgd::consistency::leashed, asgd::update::momentum> t{
///     problem, {.threads = 4, .epochs = 3, .batch = 16, .lr = 0.05f},
///     asgd::update::momentum{.mu = 0.9f}};
/// asgd::report r = t.run();
/// ```
template <class Problem, class... Policies>
class trainer {
  static_assert(detail::check_problem<Problem>(), "asgd: the problem does not model asgd::problem (see above)");
  static_assert((detail::check_argument<Policies>() && ...), "asgd: bad trainer argument (see above)");

 public:
  using problem_type = Problem;
  using update_rule_type = detail::slot_t<update_rule_tag, update::sgd, Policies...>;
  using block_selector_type = detail::slot_t<block_selector_tag, select::full, Policies...>;
  using consistency_type = detail::slot_t<consistency_mode_tag, consistency::hogwild, Policies...>;
  using topology_type = detail::slot_t<averaging_topology_tag, topology::none, Policies...>;
  using transport_type = detail::slot_t<transport_tag, transport::in_process, Policies...>;
  using quantizer_type = detail::slot_t<quantizer_tag, quantize::identity, Policies...>;

  static_assert(detail::check_update_rule<update_rule_type>(), "asgd: see the update-rule error above");
  static_assert(detail::check_block_selector<block_selector_type>(), "asgd: see the block-selector error above");
  static_assert(detail::check_consistency_mode<consistency_type>(), "asgd: see the consistency-mode error above");
  static_assert(detail::check_averaging_topology<topology_type>(), "asgd: see the topology error above");
  static_assert(detail::check_transport<transport_type>(), "asgd: see the transport error above");
  static_assert(detail::check_quantizer<quantizer_type>(), "asgd: see the quantizer error above");

  /// True when the trainer is a node that averages with others (its topology is not `none`).
  static constexpr bool averages = !std::is_same_v<topology_type, topology::none>;
  // A node's averager adds `avg - snapshot` into the shared model: the mode must say how.
  static_assert(!averages || consistency_mode_can_mix<consistency_type>,
                "asgd: this consistency mode cannot be a node's: its store has no mix(delta) and concurrent_mix "
                "(concept consistency_mode, optional clause 11). See docs/policies/consistency.md");

  /// @param problem  the problem; each worker thread gets its own copy
  /// @param config   run settings, checked by run()
  /// @param values   optional policy values (knobs), one per slot type, in any order
  template <class... Values>
  explicit trainer(Problem problem, settings config = {}, Values&&... values)
      : problem_(std::move(problem)), settings_(std::move(config)) {
    (assign(std::forward<Values>(values)), ...);
  }

  /// Runs the training; returns the report. The trained model is then in parameters().
  /// @throws std::invalid_argument for bad settings or knobs, naming the field and value
  /// @throws training_error when the loss or a parameter becomes NaN or infinite
  /// @throws checkpoint_error when the checkpoint given to resume_from() cannot be used
  report run();

  /// Calls `f` at the end of every epoch, while all workers wait (so the model it sees is
  /// consistent in every mode), with the epoch's training loss, the evaluation of the model
  /// when the problem has one, throughput and the estimated time left. The last epoch's call
  /// comes after the workers stopped, with the final evaluation.
  void on_epoch(std::function<void(const epoch_progress&)> f) { on_epoch_ = std::move(f); }

  /// Writes a checkpoint to `file` every `every_steps` minibatches (and never half of one: it
  /// is written to a temporary file, flushed and renamed). Workers pause while it is written,
  /// so it holds one consistent state: the model, every worker's optimizer, selector and
  /// sampler state, the step and the statistics so far. 0 steps turns checkpointing off.
  void checkpoint_to(std::filesystem::path file, std::uint64_t every_steps) {
    checkpoint_file_ = std::move(file);
    checkpoint_every_ = every_steps;
  }

  /// Makes the next run() continue from the checkpoint in `file`, which must come from a run
  /// with the same problem, policies, threads, batch, seed and sampling. The settings' epochs
  /// or steps may be larger than the checkpointed run's. A resumed sequential run ends with the
  /// same model, bit for bit, as one that was never interrupted.
  void resume_from(std::filesystem::path file) { resume_file_ = std::move(file); }

  /// The model after the last run() (empty before).
  [[nodiscard]] std::span<const float> parameters() const noexcept { return parameters_; }

  [[nodiscard]] const Problem& problem() const noexcept { return problem_; }
  [[nodiscard]] const settings& config() const noexcept { return settings_; }
  [[nodiscard]] settings& config() noexcept { return settings_; }
  [[nodiscard]] const update_rule_type& update_rule() const noexcept { return update_; }
  [[nodiscard]] const block_selector_type& block_selector() const noexcept { return selector_; }
  [[nodiscard]] const consistency_type& consistency() const noexcept { return consistency_; }
  [[nodiscard]] const topology_type& topology() const noexcept { return topology_; }
  [[nodiscard]] const transport_type& transport() const noexcept { return transport_; }
  [[nodiscard]] const quantizer_type& quantizer() const noexcept { return quantizer_; }

 private:
  using store_type = typename consistency_type::store;
  using store_worker = typename store_type::worker;

  template <class V>
  void assign(V&& v) {
    using T = std::remove_cvref_t<V>;
    if constexpr (std::is_same_v<T, update_rule_type>)
      update_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, block_selector_type>)
      selector_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, consistency_type>)
      consistency_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, topology_type>)
      topology_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, transport_type>)
      transport_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, quantizer_type>)
      quantizer_ = std::forward<V>(v);
    else
      static_assert(detail::dependent_false<T>,
                    "asgd: a value passed to the trainer's constructor is not of one of its policy types; pass knobs "
                    "only for the policies named in the trainer's template arguments (or their defaults)");
  }

  // What the run shares between workers and the caller.
  struct plan {
    std::size_t dimension = 0;
    std::size_t samples = 0;
    std::size_t workers = 1;
    std::uint64_t steps_per_epoch = 1;
    std::uint64_t total_steps = 0;
    std::uint64_t log_every = 1;
    std::size_t interval_bins = 0;  // loss-curve points (log_every steps each) the run can record
    std::size_t epoch_bins = 0;     // epochs the run starts or finishes
    block_layout layout;
    schedule lr_schedule;  // the settings' schedule with the run's length filled in
    bool epoch_pauses = false;
    std::uint64_t evaluate_every = 0;  // steps between evaluations within epochs (0: none)
    std::uint64_t staleness_every = 1;  // settings.staleness_every resolved
    // Averaging between nodes.
    std::size_t node = 0;
    std::size_t nodes = 1;
    param_range shard;                    // this node's samples
    bool averaging = false;               // a node with peers: rounds happen
    std::vector<std::uint64_t> triggers;  // round r happens once the node has done triggers[r] steps
  };

  // The averaging side of a run (used only when plan::averaging).
  using averager_type = detail::averager<topology_type, transport_type, quantizer_type>;
  struct averaging_state {
    std::unique_ptr<averager_type> averager;
    std::vector<float> snapshot;
    std::vector<float> mixed;
    std::size_t next_round = 0;  // rounds done
    double exchange_seconds = 0.0;
    double overlap_seconds = 0.0;
    std::vector<consensus_point> consensus;
    double final_consensus = 0.0;
    bool final_averaged = false;  // the final global average was mixed in

    // Moves the store's model from `snapshot` to `mixed` in place: adds mixed - snapshot, so
    // updates the workers made since the snapshot are kept (LAP-SGD's x += avg - snapshot).
    void mix_into(store_type& store) {
      for (std::size_t i = 0; i < mixed.size(); ++i) mixed[i] -= snapshot[i];
      store.mix(std::span<const float>(mixed));
    }
  };

  // Minibatch losses binned by step: per loss-curve interval, or per epoch. The bins grow as
  // the worker reaches them, so memory follows the steps taken, not the steps planned.
  struct loss_series {
    std::vector<double> loss;
    std::vector<std::uint64_t> count;
    std::vector<double> time;  // training seconds at the bin's last minibatch
    // The raw time stamp of the bin's last minibatch in the current segment (0: none), turned
    // into `time` at the segment's end (fold): a step reads the cheap clock only. Bins
    // [stamped_from, stamped_to) hold this segment's stamps, so a pause folds only those.
    std::vector<std::uint64_t> stamp;
    std::size_t stamped_from = ~std::size_t{0};
    std::size_t stamped_to = 0;

    [[nodiscard]] std::size_t size() const noexcept { return loss.size(); }
    void add(std::size_t bin, float l, std::uint64_t now) {
      if (bin >= loss.size()) {  // amortised: std::vector grows geometrically
        loss.resize(bin + 1, 0.0);
        count.resize(bin + 1, 0);
        time.resize(bin + 1, 0.0);
        stamp.resize(bin + 1, 0);
      }
      loss[bin] += l;
      ++count[bin];
      stamp[bin] = now;
      stamped_from = std::min(stamped_from, bin);
      stamped_to = std::max(stamped_to, bin + 1);
    }
    // Places this segment's stamps in seconds between its start and end anchors.
    void fold(detail::time_anchor from, detail::time_anchor to) {
      for (std::size_t i = stamped_from; i < stamped_to; ++i) {
        if (stamp[i] == 0) continue;
        time[i] = detail::seconds_at(stamp[i], from, to);
        stamp[i] = 0;
      }
      stamped_from = ~std::size_t{0};
      stamped_to = 0;
    }
    // The first `bins` bins (those a checkpoint's step has reached).
    void save(byte_writer& w, std::size_t bins) const {
      detail::write_values(w, loss, bins);
      detail::write_values(w, count, bins);
      detail::write_values(w, time, bins);
    }
    void load(byte_reader& r, std::size_t limit, std::string_view what) {
      detail::read_values(r, loss, limit, what);
      detail::read_values(r, count, limit, what);
      detail::read_values(r, time, limit, what);
      // A checkpoint holds as many of each; one crafted with fewer of some must not leave add()
      // indexing past the shorter vectors.
      const std::size_t n = std::max({loss.size(), count.size(), time.size()});
      loss.resize(n, 0.0);
      count.resize(n, 0);
      time.resize(n, 0.0);
      stamp.assign(n, 0);
    }
  };

  // What each worker counts; written by its worker only, read in pauses and after join.
  struct worker_stats {
    metrics::histogram staleness{256};
    metrics::histogram retries{256};
    std::uint64_t steps = 0;
    std::uint64_t applied = 0;
    std::uint64_t dropped = 0;
    loss_series intervals;  // the loss curve's bins (log_every steps each)
    loss_series epochs;
  };

  // Everything private to one worker, made before the threads start.
  struct alignas(detail::cache_line) worker_context {
    std::size_t id = 0;
    Problem problem;
    typename update_rule_type::state update_state;
    typename block_selector_type::state selection;
    detail::batch_sampler sampler;
    store_worker part;
    std::vector<float> gradient;
    sparse_gradient sparse;
    std::uint64_t local = 0;  // steps taken by this worker (lockstep modes: its round)
    worker_stats stats;
  };

  // Bin `i` of one series summed over the workers: mean loss, count, latest time.
  struct bin_total {
    double loss = 0.0;
    std::uint64_t count = 0;
    double time = 0.0;
  };
  static bin_total total(const std::vector<worker_context>& ctx, loss_series worker_stats::*series, std::size_t i) {
    bin_total t;
    for (const auto& c : ctx) {
      const loss_series& s = c.stats.*series;
      if (i >= s.size()) continue;  // this worker never reached bin i
      t.loss += s.loss[i];
      t.count += s.count[i];
      t.time = std::max(t.time, s.time[i]);
    }
    if (t.count > 0) t.loss /= static_cast<double>(t.count);
    return t;
  }

  struct shared_state {
    std::optional<detail::step_claims> claims;  // free-running modes' steps of the segment
    alignas(detail::cache_line) std::atomic<bool> stop{false};
    // A node's averager waits until the workers' steps done (each counts its own, on a line
    // of its own: no shared write per step) reach `wake_at`; a worker whose step index reaches
    // it bumps `wake` and notifies (the averager sets wake_at to "never" while it is busy).
    detail::worker_counters done_steps{0};
    alignas(detail::cache_line) std::atomic<std::uint64_t> wake_at{~std::uint64_t{0}};
    std::atomic<std::uint32_t> wake{0};
    std::atomic<bool> workers_done{false};
    std::chrono::steady_clock::time_point workers_end;  // written before workers_done is set
    averaging_state avg;
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
    std::uint64_t reported_step = 0;    // last step at which epochs were reported
    std::uint64_t checkpointed_step = 0;
    double paused = 0.0;                // seconds spent in pauses
    detail::time_anchor segment_start;  // the clocks when the workers last started or resumed
    double time_offset = 0.0;           // training seconds before a resume
    std::uint64_t version_offset = 0;   // updates applied before a resume
    std::uint64_t started_at = 0;       // the step this run started from (a checkpoint's, or 0)
    std::uint64_t restored_steps = 0;   // steps the workers' statistics held at the start
    std::vector<std::optional<evaluation>> epoch_eval;
    std::vector<evaluation_point> evaluations;
  };

  // The barrier's completion: std::barrier requires a callable that cannot throw.
  struct pause_completion {
    trainer* self;
    const plan* p;
    store_type* store;
    std::vector<worker_context>* ctx;
    shared_state* sh;
    void operator()() noexcept { self->on_pause(*p, *store, *ctx, *sh); }
  };
  using pause_barrier = std::barrier<pause_completion>;

  plan make_plan() const;
  void check_finite(const plan& p, std::uint64_t step) const;
  std::uint64_t next_boundary(const plan& p, std::uint64_t k) const;
  double training_seconds(const shared_state& sh) const;
  // Both clocks now; and the stamps of the segment that ends now, placed in seconds.
  detail::time_anchor anchor_now(const shared_state& sh) const { return {detail::time_stamp(), training_seconds(sh)}; }
  static void fold_times(std::vector<worker_context>& ctx, detail::time_anchor from, detail::time_anchor to) {
    for (auto& c : ctx) {
      c.stats.intervals.fold(from, to);
      c.stats.epochs.fold(from, to);
    }
  }
  void work(worker_context& c, const plan& p, store_type& store, shared_state& sh, pause_barrier& pause);
  void step(worker_context& c, std::uint64_t k, std::uint64_t at, const plan& p, store_type& store, shared_state& sh);
  void on_pause(const plan& p, store_type& store, std::vector<worker_context>& ctx, shared_state& sh) noexcept;
  void wake_averager(shared_state& sh) const;
  void average_rounds(const plan& p, store_type& store, shared_state& sh, std::uint64_t done_steps);
  void average_in_background(const plan& p, store_type& store, shared_state& sh);
  void finish_averaging(const plan& p, store_type& store, shared_state& sh);
  void write_checkpoint(const plan& p, const store_type& store, const std::vector<worker_context>& ctx,
                        const shared_state& sh, std::uint64_t step, double trained_seconds) const;
  void write_identity(byte_writer& w, const plan& p) const;
  void check_identity(byte_reader& r, const plan& p) const;
  void read_checkpoint_header(byte_reader& r, const plan& p, shared_state& sh, std::vector<float>& model);
  void read_checkpoint_workers(byte_reader& r, const plan& p, std::vector<worker_context>& ctx);
  report summarize(const plan& p, const store_type& store, std::vector<worker_context>& ctx, shared_state& sh,
                   double seconds);

  Problem problem_;
  settings settings_;
  update_rule_type update_{};
  block_selector_type selector_{};
  consistency_type consistency_{};
  [[no_unique_address]] topology_type topology_{};
  transport_type transport_{};
  [[no_unique_address]] quantizer_type quantizer_{};
  std::function<void(const epoch_progress&)> on_epoch_;
  std::filesystem::path checkpoint_file_;
  std::uint64_t checkpoint_every_ = 0;
  std::filesystem::path resume_file_;
  std::vector<float> parameters_;
};

// -------------------------------------------------------------------------------------------

template <class Problem, class... Policies>
auto trainer<Problem, Policies...>::make_plan() const -> plan {
  settings_.validate();
  detail::validate_if_possible(update_);
  detail::validate_if_possible(selector_);
  detail::validate_if_possible(consistency_);
  detail::validate_if_possible(topology_);
  detail::validate_if_possible(quantizer_);

  plan p;
  p.dimension = static_cast<std::size_t>(problem_.dimension());
  p.samples = static_cast<std::size_t>(problem_.num_samples());
  p.workers = settings_.threads;
  const std::string mode = "consistency::" + std::string(detail::describe(consistency_));
  if constexpr (averages) {
    p.node = transport_.node_id();
    p.nodes = transport_.node_count();
    p.averaging = p.nodes > 1;
  }
  // Node k trains on its share of the samples (all of them for a lone node).
  p.shard = {p.node * p.samples / p.nodes, (p.node + 1) * p.samples / p.nodes};
  const std::string share =
      p.nodes > 1 ? "node " + std::to_string(p.node) + "'s " + std::to_string(p.shard.size()) + " of the problem's " +
                        std::to_string(p.samples) + " samples"
                  : "the problem's " + std::to_string(p.samples) + " samples";

  detail::require(p.dimension >= 1, "problem", "dimension()", p.dimension, "must be at least 1");
  detail::require(p.samples >= 1, "problem", "num_samples()", p.samples, "must be at least 1");
  detail::require(p.workers <= consistency_type::max_workers, "settings", "threads", p.workers,
                  mode + " runs at most " + std::to_string(consistency_type::max_workers) + " worker thread(s)");
  detail::require(p.workers <= p.dimension, "settings", "threads", p.workers,
                  "exceeds the problem's " + std::to_string(p.dimension) + " parameters");
  detail::require(settings_.batch <= p.shard.size(), "settings", "batch", settings_.batch, "exceeds " + share);
  detail::require(settings_.sample_order != sampling::sharded || p.workers <= p.shard.size(), "settings", "threads",
                  p.workers, "exceeds the samples, so a sharded worker would have none");

  // An epoch is one pass over the data by all nodes together, so every node has the same
  // number of steps (and of averaging rounds) whatever its share.
  p.steps_per_epoch = (p.samples + p.nodes * settings_.batch - 1) / (p.nodes * settings_.batch);
  // Bounded before any product or rounding that could wrap (settings.steps <= 2^53 was checked).
  constexpr std::uint64_t max_steps = settings::max_steps;
  detail::require(settings_.steps > 0 || settings_.epochs <= max_steps / p.steps_per_epoch, "settings", "epochs",
                  settings_.epochs, "times " + std::to_string(p.steps_per_epoch) + " steps per epoch exceeds 2^53 steps");
  p.total_steps = settings_.steps > 0 ? settings_.steps : settings_.epochs * p.steps_per_epoch;
  // Lockstep modes take their steps in rounds of one step per worker.
  if constexpr (consistency_type::lockstep) p.total_steps = (p.total_steps + p.workers - 1) / p.workers * p.workers;
  const auto bins = detail::ceil_div;
  p.epoch_bins = static_cast<std::size_t>(bins(p.total_steps, p.steps_per_epoch));
  detail::require(p.epoch_bins <= settings::max_bins, "settings", settings_.steps > 0 ? "steps" : "epochs",
                  settings_.steps > 0 ? settings_.steps : settings_.epochs,
                  "makes " + std::to_string(p.epoch_bins) + " epochs of " + std::to_string(p.steps_per_epoch) +
                      " steps; a run records at most 2^20 epochs (raise the batch, or take fewer steps)");
  if (settings_.log_every > 0) {
    p.log_every = settings_.log_every;
    detail::require(bins(p.total_steps, p.log_every) <= settings::max_bins, "settings", "log_every", p.log_every,
                    "makes " + std::to_string(bins(p.total_steps, p.log_every)) + " loss-curve points of " +
                        std::to_string(p.total_steps) + " steps; at most 2^20 (raise log_every)");
  } else {  // about 20 points an epoch, and never more than max_bins
    p.log_every = std::max<std::uint64_t>({1, p.steps_per_epoch / 20, bins(p.total_steps, settings::max_bins)});
  }
  p.interval_bins = static_cast<std::size_t>(bins(p.total_steps, p.log_every));
  p.lr_schedule = settings_.lr_schedule;
  if (p.lr_schedule.total_epochs == 0.0) {
    p.lr_schedule.total_epochs = static_cast<double>(p.total_steps) / static_cast<double>(p.steps_per_epoch);
  }
  p.epoch_pauses = settings_.evaluate_epochs || static_cast<bool>(on_epoch_);
  if (settings_.evaluations_per_epoch > 0) {
    p.evaluate_every = std::max<std::uint64_t>(1, p.steps_per_epoch / settings_.evaluations_per_epoch);
  }
  p.staleness_every = settings_.staleness_every > 0                              ? settings_.staleness_every
                      : settings_.staleness.type != staleness_scaling::kind::none ? 1
                                                                                  : 64;
  if (p.averaging) {
    const averaging_settings& a = settings_.averaging;
    if constexpr (averages) {
      if (!a.blocking && !consistency_type::concurrent_mix) {
        throw std::invalid_argument("asgd: settings.averaging.blocking = false, but " + mode +
                                    " cannot mix an average into its model while workers run; set blocking = true");
      }
    }
    if (checkpoint_every_ > 0 || !resume_file_.empty()) {
      throw std::invalid_argument("asgd: checkpoints of averaging nodes are not supported (node " +
                                  std::to_string(p.node) + " of " + std::to_string(p.nodes) + ")");
    }
    // Post-local SGD: a round after every step until the switch, then every H steps.
    const auto local_from =
        static_cast<std::uint64_t>(std::llround(a.local_after_epoch * static_cast<double>(p.steps_per_epoch)));
    for (std::uint64_t k = 0;;) {
      k += k < local_from ? 1 : a.every;
      if (k > p.total_steps) break;
      p.triggers.push_back(k);
    }
  }
  if (checkpoint_every_ > 0 || !resume_file_.empty()) {
    if constexpr (!checkpointable_policy<update_rule_type>) {
      throw std::invalid_argument("asgd: update rule " + detail::describe(update_) +
                                  " cannot be checkpointed: give it save(const state&, byte_writer&) and "
                                  "load(state&, byte_reader&)");
    }
    if constexpr (!checkpointable_policy<block_selector_type>) {
      throw std::invalid_argument("asgd: block selector " + detail::describe(selector_) +
                                  " cannot be checkpointed: give it save(const state&, byte_writer&) and "
                                  "load(state&, byte_reader&)");
    }
    if (checkpoint_every_ > 0 && checkpoint_file_.empty()) {
      throw std::invalid_argument("asgd: checkpoint_to() needs a file name");
    }
    // A checkpoint that cannot be written fails now, not at its first pause.
    if (checkpoint_every_ > 0) detail::check_writable(checkpoint_file_, "checkpoints to");
  }

  if constexpr (layered_problem<Problem>) {
    p.layout = problem_.layout();
    std::size_t at = 0;
    for (const auto& b : p.layout) {
      if (b.range.begin != at || b.range.end <= b.range.begin) {
        std::ostringstream os;
        os << "asgd: problem layout: block '" << b.name << "' " << b.range << " must be non-empty and start at "
           << at << ", where the previous block ends";
        throw std::invalid_argument(os.str());
      }
      at = b.range.end;
    }
    if (at != p.dimension) {
      throw std::invalid_argument("asgd: problem layout ends at " + std::to_string(at) + " but dimension() is " +
                                  std::to_string(p.dimension));
    }
  } else {
    p.layout = {{"parameters", {0, p.dimension}}};
  }
  return p;
}

// Throws training_error naming the first NaN or infinite entry of parameters_.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::check_finite(const plan& p, std::uint64_t step) const {
  for (std::size_t i = 0; i < p.dimension; ++i) {
    if (std::isfinite(parameters_[i])) continue;
    std::ostringstream os;
    os << "asgd: parameter " << i << " is " << parameters_[i] << " after step " << step << " (epoch "
       << static_cast<double>(step) / static_cast<double>(p.steps_per_epoch) << ") under consistency::"
       << detail::describe(consistency_) << "; lower the learning rate or check the data";
    throw training_error(os.str());
  }
}

// The step at which workers next pause: an epoch's end (when epochs are evaluated or
// reported), a checkpoint, or the end of the run. Lockstep modes pause between rounds.
template <class Problem, class... Policies>
std::uint64_t trainer<Problem, Policies...>::next_boundary(const plan& p, std::uint64_t k) const {
  auto round = [&](std::uint64_t b) {
    if constexpr (consistency_type::lockstep) return (b + p.workers - 1) / p.workers * p.workers;
    return b;
  };
  std::uint64_t b = p.total_steps;
  if (p.epoch_pauses) b = std::min(b, round((k / p.steps_per_epoch + 1) * p.steps_per_epoch));
  if (checkpoint_every_ > 0) b = std::min(b, round((k / checkpoint_every_ + 1) * checkpoint_every_));
  if (p.evaluate_every > 0) b = std::min(b, round((k / p.evaluate_every + 1) * p.evaluate_every));
  if (p.averaging && settings_.averaging.blocking) {  // workers wait while the node averages
    const auto next = std::upper_bound(p.triggers.begin(), p.triggers.end(), k);
    if (next != p.triggers.end()) b = std::min(b, round(*next));
  }
  return b;
}

template <class Problem, class... Policies>
double trainer<Problem, Policies...>::training_seconds(const shared_state& sh) const {
  return sh.time_offset + std::chrono::duration<double>(std::chrono::steady_clock::now() - sh.start).count() -
         sh.paused;
}

template <class Problem, class... Policies>
report trainer<Problem, Policies...>::run() {
  const plan p = make_plan();
  shared_state sh;

  std::vector<float> initial(p.dimension, 0.0f);
  if constexpr (initializable_problem<Problem>) problem_.initialize(std::span<float>(initial), settings_.seed);
  std::vector<std::uint8_t> resume_bytes;
  std::optional<byte_reader> resume;
  if (!resume_file_.empty()) {
    resume_bytes = read_checkpoint_file(resume_file_);
    resume.emplace(open_checkpoint(resume_bytes, resume_file_.string()), resume_file_.string());
    read_checkpoint_header(*resume, p, sh, initial);
  }
  store_type store(consistency_, store_config{p.dimension, p.workers, p.averaging ? 1u : 0u, 0, p.staleness_every},
                   std::span<const float>(initial));
  if (p.averaging) sh.done_steps = detail::worker_counters(p.workers);

  // Every worker's private part is made here, so an allocation failure throws before any
  // thread waits for another.
  std::vector<worker_context> ctx;
  ctx.reserve(p.workers);
  for (std::size_t w = 0; w < p.workers; ++w) {
    ctx.push_back({w, problem_, update_.make_state(p.dimension),
                   selector_.make_state({p.layout, p.dimension, w, p.workers, settings_.seed}),
                   detail::batch_sampler(p.shard, settings_.sample_order, w, p.workers, settings_.seed, p.node),
                   store.make_worker(w), std::vector<float>(sparse_problem<Problem> ? 0 : p.dimension),
                   sparse_gradient{}, 0, worker_stats{}});
  }
  if (resume) {
    read_checkpoint_workers(*resume, p, ctx);
    for (const auto& c : ctx) sh.restored_steps += c.stats.steps;
  }

  if (p.averaging) {
    sh.avg.averager = std::make_unique<averager_type>(topology_, transport_, quantizer_, p.dimension, settings_.seed);
    sh.avg.snapshot.assign(p.dimension, 0.0f);
    sh.avg.mixed.assign(p.dimension, 0.0f);
    const std::pair<const char*, std::uint64_t> schedule[] = {
        {"the dimension", p.dimension}, {"the steps per node", p.total_steps}, {"the averaging rounds", p.triggers.size()},
        {"settings.seed (it draws the random matchings)", settings_.seed}};
    sh.avg.averager->handshake(schedule);
  }
  pause_barrier pause(static_cast<std::ptrdiff_t>(p.workers), pause_completion{this, &p, &store, &ctx, &sh});
  sh.claims.emplace(p.workers);
  sh.claims->start(sh.reported_step);
  sh.segment_end = next_boundary(p, sh.reported_step);
  sh.start = std::chrono::steady_clock::now();
  sh.segment_start = {detail::time_stamp(), sh.time_offset};
  {
    std::thread averager;
    std::vector<std::thread> threads;
    threads.reserve(p.workers);
    try {
      if (p.averaging && !settings_.averaging.blocking) {
        averager = detail::start_thread("averager thread", [&] { average_in_background(p, store, sh); });
      }
      for (auto& c : ctx) {
        threads.push_back(detail::start_thread(
            "worker thread " + std::to_string(c.id) + " of " + std::to_string(p.workers),
            [&, cp = &c] { work(*cp, p, store, sh, pause); }));
      }
    } catch (...) {
      // The started workers must not wait for those that never ran: they leave the pause and
      // the store in their place, and the stop flag ends the others' loops.
      sh.fail(std::current_exception());
      for (std::size_t w = threads.size(); w < ctx.size(); ++w) {
        pause.arrive_and_drop();
        store.finish(ctx[w].part);
      }
      if (p.averaging) wake_averager(sh);
    }
    for (auto& t : threads) t.join();
    sh.workers_end = std::chrono::steady_clock::now();
    fold_times(ctx, sh.segment_start, anchor_now(sh));
    sh.workers_done.store(true, std::memory_order_release);
    if (averager.joinable()) {
      wake_averager(sh);
      averager.join();
    }
    if (p.averaging && !sh.error) {
      try {
        finish_averaging(p, store, sh);
      } catch (...) {
        sh.error = std::current_exception();
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sh.start).count();
  if (sh.error) {
    if constexpr (requires(transport_type& t) { t.leave(std::string_view{}); }) {
      // Peers waiting for this node learn at once that it is gone, instead of at their timeout.
      if (p.averaging) transport_.leave("its run failed");
    }
    std::rethrow_exception(sh.error);
  }
  if (checkpoint_every_ > 0 && sh.checkpointed_step < p.total_steps) {
    // The end of the run is a checkpoint too, so a longer run can continue from it.
    parameters_.assign(p.dimension, 0.0f);
    store.copy_to(std::span<float>(parameters_));
    check_finite(p, p.total_steps);
    write_checkpoint(p, store, ctx, sh, p.total_steps, seconds - sh.paused + sh.time_offset);
  }
  report r = summarize(p, store, ctx, sh, seconds);
  if (on_epoch_ && !r.epochs.empty() && sh.reported_step < p.total_steps) {
    const epoch_record& last = r.epochs.back();
    epoch_progress ep;
    ep.epoch = last.epoch;
    ep.epochs = r.epochs.size();
    ep.steps = ep.total_steps = p.total_steps;
    ep.train_loss = last.train_loss;
    ep.eval = last.eval;
    ep.seconds = seconds - sh.paused + sh.time_offset;
    ep.samples_per_second = r.samples_per_second;
    on_epoch_(ep);
  }
  return r;
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::work(worker_context& c, const plan& p, store_type& store, shared_state& sh,
                                         pause_barrier& pause) {
  try {
    for (;;) {
      const std::uint64_t end = sh.segment_end;  // set in the last pause, before this worker was released
      if constexpr (consistency_type::lockstep) {
        for (;;) {
          const std::uint64_t k = c.local * p.workers + c.id;
          if (k >= end || sh.stop.load(std::memory_order_relaxed)) break;
          step(c, k, k, p, store, sh);
          ++c.local;
        }
      } else {
        // Claimed in runs, taken one by one; a sleeping worker's unbegun steps go to the others.
        while (const auto s = sh.claims->take(c.id, end)) {
          if (sh.stop.load(std::memory_order_relaxed)) break;
          step(c, s->index, s->progress, p, store, sh);
          ++c.local;
        }
      }
      if (sh.stop.load(std::memory_order_relaxed)) break;
      if (end >= p.total_steps) {  // the run is over: every worker leaves here, none waits
        store.finish(c.part);
        return;
      }
      if constexpr (requires { store.pause(c.part); }) store.pause(c.part);
      pause.arrive_and_wait();  // on_pause runs on one thread while all wait
    }
  } catch (...) {
    sh.fail(std::current_exception());
  }
  // Stopped early, by its own error or another thread's: workers that already wait at a pause
  // must not wait for this one, nor the averager for its steps.
  if (p.averaging) wake_averager(sh);
  pause.arrive_and_drop();
  store.finish(c.part);
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::step(worker_context& c, std::uint64_t k, std::uint64_t at, const plan& p,
                                         store_type& store, shared_state& sh) {
  // Step k of the run, taken where the run's progress is `at` (k, unless this worker fell behind).
  const double epoch = static_cast<double>(at) / static_cast<double>(p.steps_per_epoch);
  const double lr_now = settings_.lr * p.lr_schedule.factor(epoch);
  auto lr = [&](std::uint64_t tau) { return lr_now * settings_.staleness.factor(tau, p.workers); };
  const update_rule_type& rule = update_;
  auto dir = [&rule, &c](std::size_t i, float g, float x) { return rule.direction(c.update_state, i, g, x); };
  const auto batch = c.sampler.next(settings_.batch);
  const param_range range = selector_.select(c.selection, {k, epoch, c.local});
  const auto full = param_range{0, p.dimension};
  if (range.empty() || range.end > p.dimension) {
    std::ostringstream os;
    os << "asgd: block selector " << detail::describe(selector_) << " chose " << range << " outside [0, "
       << p.dimension << ")";
    throw std::logic_error(os.str());
  }

  float loss = 0.0f;
  apply_result res;
  auto check = [&] {
    if (std::isfinite(loss)) return;
    std::ostringstream os;
    os << "asgd: the loss is " << loss << " at step " << k << " (epoch " << epoch << ") on worker " << c.id
       << " under consistency::" << detail::describe(consistency_) << " with lr " << lr_now
       << "; lower the learning rate or check the data";
    throw training_error(os.str());
  };
  if constexpr (sparse_problem<Problem>) {
    auto h = store.read_sparse(c.part);
    c.sparse.clear();
    loss = static_cast<float>(c.problem.gradient(h.reader(), batch, c.sparse));
    check();
    if (range != full) c.sparse.keep_range(range.begin, range.end);
    res = store.apply_sparse(c.part, h, c.sparse.indices(), c.sparse.values(), dir, lr);
  } else {
    auto h = store.read(c.part);
    std::span<float> g(c.gradient);
    if (range == full) {
      loss = static_cast<float>(c.problem.gradient(h.values(), batch, g));
    } else if constexpr (block_gradient_problem<Problem>) {
      g = g.first(range.size());
      loss = static_cast<float>(c.problem.gradient(h.values(), batch, g, range));
    } else {
      loss = static_cast<float>(c.problem.gradient(h.values(), batch, g));
      g = g.subspan(range.begin, range.size());
    }
    check();
    res = store.apply(c.part, h, range, std::span<const float>(g), dir, lr);
  }

  worker_stats& st = c.stats;
  const std::uint64_t now = detail::time_stamp();
  ++st.steps;
  if (res.applied) {
    ++st.applied;
    if (res.staleness_measured) st.staleness.add(res.staleness);
  } else {
    ++st.dropped;
  }
  st.retries.add(res.retries);
  st.intervals.add(static_cast<std::size_t>(k / p.log_every), loss, now);
  st.epochs.add(static_cast<std::size_t>(k / p.steps_per_epoch), loss, now);
  if (p.averaging) {
    // A seq_cst store to this worker's own line, then a seq_cst load; the averager stores
    // wake_at, then loads the counts, seq_cst: either it counts this step or this worker sees
    // its wake_at (no shared line is written per step; on x86 the store is an xchg on a line
    // this core owns). The test is on the step's index: once the steps done reach wake_at,
    // steps of index wake_at - 1 or more are being taken, and each one's end wakes the averager
    // until it runs (at the run's end, the rounds still due run in finish_averaging).
    sh.done_steps.bump(c.id, std::memory_order_seq_cst);
    if (k + 1 >= sh.wake_at.load(std::memory_order_seq_cst)) wake_averager(sh);
  }
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::wake_averager(shared_state& sh) const {
  sh.wake.fetch_add(1, std::memory_order_release);
  sh.wake.notify_all();
}

// One averaging round, from the node's side: snapshot, exchange and mix by the topology, then
// add (mix - snapshot) into the model in place, so updates made meanwhile are kept (LAP-SGD).
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::average_rounds(const plan& p, store_type& store, shared_state& sh,
                                                   std::uint64_t done_steps) {
  averaging_state& a = sh.avg;
  while (a.next_round < p.triggers.size() && p.triggers[a.next_round] <= done_steps) {
    const auto t0 = std::chrono::steady_clock::now();
    store.copy_to(std::span<float>(a.snapshot));
    a.averager->round(a.next_round, a.snapshot, std::span<float>(a.mixed));
    a.mix_into(store);
    const auto t1 = std::chrono::steady_clock::now();
    a.exchange_seconds += std::chrono::duration<double>(t1 - t0).count();
    if (!settings_.averaging.blocking) {
      // Workers computed through the round, unless they finished during it.
      const auto computing_until = sh.workers_done.load(std::memory_order_acquire) ? std::min(t1, sh.workers_end) : t1;
      if (computing_until > t0) a.overlap_seconds += std::chrono::duration<double>(computing_until - t0).count();
    }
    ++a.next_round;
    const std::size_t every = settings_.averaging.consensus_every;
    if (every > 0 && a.next_round % every == 0) {
      store.copy_to(std::span<float>(a.snapshot));
      a.consensus.push_back({a.next_round, a.averager->consensus_distance(a.snapshot, std::span<float>(a.mixed))});
    }
  }
}

// The averager thread of a non-blocking node: it sleeps until the workers have taken the next
// round's steps, runs the round, and repeats; it never holds anything the workers wait for.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::average_in_background(const plan& p, store_type& store, shared_state& sh) {
  try {
    while (sh.avg.next_round < p.triggers.size()) {
      const std::uint64_t due = p.triggers[sh.avg.next_round];
      for (;;) {
        const std::uint32_t seen = sh.wake.load(std::memory_order_acquire);
        sh.wake_at.store(due, std::memory_order_seq_cst);  // then the counts: see step()
        if (sh.done_steps.sum(std::memory_order_seq_cst) >= due) break;
        if (sh.stop.load(std::memory_order_relaxed) || sh.workers_done.load(std::memory_order_acquire)) {
          sh.wake_at.store(~std::uint64_t{0}, std::memory_order_relaxed);
          return;  // the run failed; finish_averaging is not called
        }
        sh.wake.wait(seen, std::memory_order_acquire);
      }
      sh.wake_at.store(~std::uint64_t{0}, std::memory_order_relaxed);
      average_rounds(p, store, sh, sh.done_steps.sum());
    }
  } catch (...) {
    sh.fail(std::current_exception());
  }
}

// After the last step: the rounds still due (blocking nodes take their last ones here), the
// consensus distance, and the final global average.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::finish_averaging(const plan& p, store_type& store, shared_state& sh) {
  averaging_state& a = sh.avg;
  average_rounds(p, store, sh, p.total_steps);
  store.copy_to(std::span<float>(a.snapshot));
  // The distance's all-reduce leaves the global mean in `mixed`: the final average is that mean.
  a.final_consensus = a.averager->consensus_distance(a.snapshot, std::span<float>(a.mixed));
  if (settings_.averaging.final_average) {
    a.mix_into(store);
    a.final_averaged = true;
  }
}

// Runs on one thread while every other worker waits: checks the parameters, reports finished
// epochs, writes a checkpoint when one is due, and opens the next segment.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::on_pause(const plan& p, store_type& store, std::vector<worker_context>& ctx,
                                             shared_state& sh) noexcept {
  const std::uint64_t k = sh.segment_end;  // every step before k is done, none after it begun
  fold_times(ctx, sh.segment_start, anchor_now(sh));
  try {
    if (!sh.stop.load(std::memory_order_relaxed)) {
      // A blocking node averages here, while its workers wait; that is training time.
      if (p.averaging && settings_.averaging.blocking) average_rounds(p, store, sh, k);
      const auto t0 = std::chrono::steady_clock::now();
      parameters_.assign(p.dimension, 0.0f);
      store.copy_to(std::span<float>(parameters_));
      check_finite(p, k);
      const std::uint64_t first_epoch = sh.reported_step / p.steps_per_epoch;
      const std::uint64_t done_epochs = k / p.steps_per_epoch;
      const bool epoch_end = p.epoch_pauses && done_epochs > first_epoch;
      const bool eval_due = p.evaluate_every > 0 && k / p.evaluate_every > sh.reported_step / p.evaluate_every;
      const double trained =
          training_seconds(sh) - std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::optional<evaluation> eval;
      if constexpr (evaluable_problem<Problem>) {
        if (epoch_end || eval_due) {
          eval = problem_.evaluate(std::span<const float>(parameters_));
          sh.evaluations.push_back(
              {k, static_cast<double>(k) / static_cast<double>(p.steps_per_epoch), trained, *eval});
        }
      }
      if (epoch_end) {
        if (sh.epoch_eval.size() < done_epochs) sh.epoch_eval.resize(static_cast<std::size_t>(done_epochs));
        for (std::uint64_t e = first_epoch; e < done_epochs; ++e) {
          sh.epoch_eval[e] = eval;
          if (!on_epoch_) continue;
          epoch_progress ep;
          ep.epoch = static_cast<std::size_t>(e + 1);
          ep.epochs = p.epoch_bins;
          ep.steps = k;
          ep.total_steps = p.total_steps;
          ep.train_loss = total(ctx, &worker_stats::epochs, static_cast<std::size_t>(e)).loss;
          ep.eval = eval;
          ep.seconds = trained;
          const double run_seconds = trained - sh.time_offset;
          const double done_here = static_cast<double>(k - sh.started_at);
          ep.samples_per_second = run_seconds > 0 ? done_here * static_cast<double>(settings_.batch) / run_seconds : 0.0;
          ep.eta_seconds =
              done_here > 0 ? run_seconds * static_cast<double>(p.total_steps - k) / done_here : 0.0;
          on_epoch_(ep);
        }
      }
      sh.reported_step = k;
      if (checkpoint_every_ > 0 && k / checkpoint_every_ > sh.checkpointed_step / checkpoint_every_) {
        write_checkpoint(p, store, ctx, sh, k, trained);
        sh.checkpointed_step = k;
      }
      sh.paused += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } catch (...) {
    sh.fail(std::current_exception());
  }
  for (auto& c : ctx) {
    if constexpr (requires { store.resume(c.part); }) store.resume(c.part);
  }
  sh.claims->start(k);
  sh.segment_end = next_boundary(p, k);
  sh.segment_start = anchor_now(sh);
}


// What a checkpoint must share with the run that reads it.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::write_identity(byte_writer& w, const plan& p) const {
  w.string(detail::describe(problem_));
  w.string(detail::describe(consistency_));
  w.string(detail::describe(update_));
  w.string(detail::describe(selector_));
  for (std::uint64_t v : {std::uint64_t{p.dimension}, std::uint64_t{p.workers}, std::uint64_t{settings_.batch},
                          settings_.seed, p.steps_per_epoch, p.log_every,
                          static_cast<std::uint64_t>(settings_.sample_order)})
    w.u64(v);
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::check_identity(byte_reader& r, const plan& p) const {
  r.expect(r.string(), detail::describe(problem_), "problem");
  r.expect(r.string(), detail::describe(consistency_), "consistency mode");
  r.expect(r.string(), detail::describe(update_), "update rule");
  r.expect(r.string(), detail::describe(selector_), "block selector");
  r.expect(r.u64(), std::uint64_t{p.dimension}, "dimension");
  r.expect(r.u64(), std::uint64_t{p.workers}, "threads");
  r.expect(r.u64(), std::uint64_t{settings_.batch}, "batch");
  r.expect(r.u64(), settings_.seed, "seed");
  r.expect(r.u64(), p.steps_per_epoch, "steps per epoch (samples / batch)");
  r.expect(r.u64(), p.log_every, "log_every");
  r.expect(r.u64(), static_cast<std::uint64_t>(settings_.sample_order), "sample order");
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::write_checkpoint(const plan& p, const store_type& store,
                                                     const std::vector<worker_context>& ctx, const shared_state& sh,
                                                     std::uint64_t step, double trained_seconds) const {
  if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
    byte_writer w;
    w.string(version_string);
    write_identity(w, p);
    w.u64(step);
    w.u64(sh.version_offset + store.version());
    w.f64(trained_seconds);
    w.floats(parameters_);
    // Statistics up to the checkpoint's step only, so a shorter or longer run can resume.
    const auto intervals = static_cast<std::size_t>(detail::ceil_div(step, p.log_every));
    const auto epochs = static_cast<std::size_t>(detail::ceil_div(step, p.steps_per_epoch));
    for (const auto& c : ctx) {
      update_.save(c.update_state, w);
      selector_.save(c.selection, w);
      c.sampler.save(w);
      w.u64(c.local);
      const worker_stats& st = c.stats;
      w.u64(st.steps);
      w.u64(st.applied);
      w.u64(st.dropped);
      st.staleness.save(w);
      st.retries.save(w);
      st.intervals.save(w, intervals);
      st.epochs.save(w, epochs);
    }
    const auto file = seal_checkpoint(w.bytes());
    detail::write_file_atomically(checkpoint_file_,
                                  std::string_view(reinterpret_cast<const char*>(file.data()), file.size()));
  }
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::read_checkpoint_header(byte_reader& r, const plan& p, shared_state& sh,
                                                           std::vector<float>& model) {
  (void)r.string();  // the asgd version that wrote it; the format version was checked
  check_identity(r, p);
  const std::uint64_t step = r.u64();
  if (step > p.total_steps) {
    r.fail("the checkpoint is at step " + std::to_string(step) + ", past this run's " +
           std::to_string(p.total_steps) + " steps");
  }
  sh.version_offset = r.u64();
  sh.time_offset = r.f64();
  r.floats(std::span<float>(model), "the model");
  sh.reported_step = sh.checkpointed_step = sh.started_at = step;
}

template <class Problem, class... Policies>
void trainer<Problem, Policies...>::read_checkpoint_workers(byte_reader& r, const plan& p,
                                                            std::vector<worker_context>& ctx) {
  if constexpr (checkpointable_policy<update_rule_type> && checkpointable_policy<block_selector_type>) {
    for (auto& c : ctx) {
      update_.load(c.update_state, r);
      selector_.load(c.selection, r);
      c.sampler.load(r);
      c.local = r.u64();
      worker_stats& st = c.stats;
      st.steps = r.u64();
      st.applied = r.u64();
      st.dropped = r.u64();
      st.staleness.load(r);
      st.retries.load(r);
      st.intervals.load(r, p.interval_bins, "the loss curve");
      st.epochs.load(r, p.epoch_bins, "the epoch losses");
    }
    if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " unexpected bytes after the last worker");
  }
}

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
    n.topology = detail::describe(topology_);
    n.transport = detail::describe(transport_);
    n.quantizer = detail::describe(quantizer_);
    n.blocking = settings_.averaging.blocking;
    const averaging_state& a = sh.avg;
    n.rounds = a.next_round;
    n.exchange_seconds = a.exchange_seconds;
    n.overlap = a.exchange_seconds > 0 ? a.overlap_seconds / a.exchange_seconds : 0.0;
    if (a.averager) {
      n.bytes_sent = a.averager->bytes_sent();
      n.bits_sent = a.averager->bits_sent();
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
