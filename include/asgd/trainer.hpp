#pragma once
/// @file
/// `asgd::trainer`: one problem, policies in any order, threads sharing one model.

#include <asgd/checkpoint.hpp>
#include <asgd/concepts.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/detail/checks.hpp>
#include <asgd/detail/crew.hpp>
#include <asgd/detail/describe.hpp>
#include <asgd/detail/event_log.hpp>
#include <asgd/detail/files.hpp>
#include <asgd/detail/memory.hpp>
#include <asgd/detail/node_policies.hpp>
#include <asgd/detail/run_plan.hpp>
#include <asgd/detail/run_state.hpp>
#include <asgd/detail/sampler.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/detail/slots.hpp>
#include <asgd/detail/step_claims.hpp>
#include <asgd/detail/steps_done.hpp>
#include <asgd/detail/straggler.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/detail/threads.hpp>
#include <asgd/detail/time_stamp.hpp>
#include <asgd/detail/worker_stats.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/report.hpp>
#include <asgd/select/full.hpp>
#include <asgd/settings.hpp>
#include <asgd/topology/none.hpp>
#include <asgd/update/sgd.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
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

namespace sim {
class recording;    // <asgd/sim/recording.hpp>
struct cost_model;  // <asgd/sim/cost_model.hpp>, which <asgd/sim/simulation.hpp> includes
}
namespace transport {
class in_process;  // <asgd/transport/in_process.hpp>, which <asgd/averaging.hpp> includes
}
namespace detail {
// A node's averaging (detail/averager.hpp): a trainer with a topology needs its definition, which
// <asgd/averaging.hpp> brings; a trainer without one holds none.
template <class Topology, class Transport, class Quantizer>
class averager;
struct no_averager {};
// The transport member of a trainer that holds none (no topology, no transport named).
struct no_transport {};
// The code of a trainer's simulated, recorded and replayed runs (trainer/simulated.hpp): declared
// here, defined where <asgd/sim/simulation.hpp> is included.
template <class Trainer>
struct trainer_extras;
template <class T>
concept complete_type = requires { sizeof(T); };
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
/// `transport::in_process`, `quantize::identity`. A trainer without a topology holds no
/// transport unless one is named (it never talks), and does not compile the averaging code that
/// a trainer with a topology gets from `<asgd/averaging.hpp>`. An argument that is not a policy,
/// a second policy of one kind, or a policy that misses a clause of its concept is a compile
/// error whose message starts with "asgd:" and names the problem.
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
  static_assert(detail::check_quantizer<quantizer_type>(), "asgd: see the quantizer error above");

  /// True when the trainer is a node that averages with others (its topology is not `none`).
  static constexpr bool averages = !std::is_same_v<topology_type, topology::none>;
  /// True when the trainer holds a transport: it averages, or one was named.
  static constexpr bool holds_transport =
      averages || !std::is_same_v<detail::arguments_of_kind<transport_tag, Policies...>, detail::type_list<>>;
  static_assert(
      [] {
        if constexpr (averages) {
          return detail::complete_type<detail::averager<topology_type, transport_type, quantizer_type>>;
        } else {
          return true;
        }
      }(),
      "asgd: a trainer with a topology needs #include <asgd/averaging.hpp>, which every topology header of asgd "
      "includes (a topology of your own must include it); a trainer without a topology does not compile the "
      "averaging code");
  static_assert(
      [] {
        if constexpr (holds_transport) {
          // Checked once defined: the default's header comes with <asgd/averaging.hpp> (above).
          if constexpr (detail::complete_type<transport_type>) return detail::check_transport<transport_type>();
        }
        return true;
      }(),
      "asgd: see the transport error above");
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
  /// comes after the workers stopped, with the final evaluation. On a node that averages
  /// without blocking (unless settings.background_evaluations is false), the workers go on
  /// while a background thread evaluates the model copied at the epoch's end, and `f` is called
  /// from that thread once the evaluation is done (one call at a time, in order; a pause waits
  /// for the previous evaluation to finish).
  void on_epoch(std::function<void(const epoch_progress&)> f) { on_epoch_ = std::move(f); }

  /// Writes a checkpoint to `file` every `every_steps` minibatches (and never half of one: it
  /// is written to a temporary file, flushed and renamed). Workers pause while it is written,
  /// so it holds one consistent state: the model, every worker's optimizer, selector and
  /// sampler state, the step and the statistics so far. 0 steps turns checkpointing off.
  ///
  /// A node of several writes `file` + ".node<k>" (k its node id), with its averaging state
  /// (rounds or gossip events taken, their statistics, its traffic), at the same steps as every
  /// other node: at a checkpoint all nodes land the rounds due so far, meet, take the gossip
  /// pushes left for them into their models, write, and meet again, so the files form a cut that
  /// no exchange crosses. A node's last checkpoint is the last one before its final average.
  /// A std::filesystem::path converts to `file` implicitly.
  /// (A template, as resume_from(), so that an explicit instantiation of the trainer leaves the
  /// checkpoint code out; a translation unit that calls either compiles it.)
  template <int = 0>
  void checkpoint_to(std::string file, std::uint64_t every_steps) {
    checkpoint_file_ = std::move(file);
    checkpoint_every_ = every_steps;
    checkpoints_ = checkpoint_members();
  }

  /// Makes the next run() continue from the checkpoint in `file`, which must come from a run
  /// with the same problem, policies, threads, batch, seed and sampling. The settings' epochs
  /// or steps may be larger than the checkpointed run's. A resumed sequential run ends with the
  /// same model, bit for bit, as one that was never interrupted; so does a run of blocking
  /// sequential nodes (each reads `file` + ".node<k>", and all must be at the same step).
  template <int = 0>
  void resume_from(std::string file) {
    resume_file_ = std::move(file);
    checkpoints_ = checkpoint_members();
  }

  /// Makes the next runs simulated (`costs`) or real (std::nullopt, the default). A simulated
  /// run takes the same steps through the same code, but its workers are tasks of a
  /// sim::simulation, one at a time in virtual time: each gradient, copy, update, atomic and lock
  /// takes the time `costs` gives it, and a worker that would wait (a lock, a barrier, a bound
  /// on staleness) waits in virtual time. The report's times are virtual, and its `simulation`
  /// says what the host spent. The same seed and costs give the same model, bit for bit, on any
  /// host (docs/simulation.md says what each mode keeps of its semantics).
  /// A trainer run() on a task of a simulation (one that sim::simulation::run started) is part
  /// of it: its workers become tasks of that simulation, whatever simulate() was given, so
  /// several trainers can share one virtual time.
  /// simulate(), record() and replay() need `#include <asgd/sim/simulation.hpp>`, which holds
  /// their code: a trainer that never calls them does not compile the simulator. (They are
  /// templates so that an explicit instantiation of the trainer does not compile them either.)
  /// @throws std::invalid_argument (from run()) for a node that averages with peers outside its
  /// simulation (simulate a group of nodes with sim::run_in_process)
  // (A parameter of type std::optional<sim::cost_model>: written through the template's
  // parameter so that this header needs only the cost model's name.)
  template <class Costs = sim::cost_model>
  void simulate(std::type_identity_t<std::optional<Costs>> costs) {
    use_extras();
    simulate_ = costs ? std::make_shared<const Costs>(*std::move(costs)) : nullptr;
  }

  /// Makes the next runs record their interleaving into `*into` (nullptr: stop recording): per
  /// worker, the steps it claimed, where the run was when its updates landed, its turns at the
  /// store's lock, the versions it pinned and whether its publications won; for a node, its
  /// averaging's too (turns at the peers' published copies, the progress it acted on). replay()
  /// gives it back to a simulated run, which then computes the same model, bit for bit (a group
  /// of nodes: record each, replay them together with sim::run_in_process). A recording costs a
  /// few appends to a worker's own buffer a step (docs/simulation.md, "Record and replay").
  /// @throws std::invalid_argument (from run()) when the consistency mode, with its knobs, does
  /// not replay (it races on the model's floats: HOGWILD!, bounded staleness, atomic adds)
  template <int = 0>
  void record(sim::recording* into) {
    record_ = into;
    if (into != nullptr) replay_ = nullptr;
    use_extras();
  }

  /// Makes the next runs replay `*from` (nullptr: stop): simulated runs (under the cost model
  /// simulate() gave, else sim::cost_model::machine()) whose workers take the recorded steps and
  /// wait, in virtual time, for the turns and versions the recording holds. The run must be the
  /// one recorded: same problem, policies, knobs and settings.
  /// @throws std::invalid_argument (from run()) when `*from` records another run;
  /// sim::replay_error when the replay leaves the recording (the code or the data differ)
  template <int = 0>
  void replay(const sim::recording* from) {
    replay_ = from;
    if (from != nullptr) record_ = nullptr;
    use_extras();
  }

  /// The model after the last run() (empty before).
  [[nodiscard]] std::span<const float> parameters() const noexcept { return parameters_; }

  [[nodiscard]] const Problem& problem() const noexcept { return problem_; }
  [[nodiscard]] const settings& config() const noexcept { return settings_; }
  [[nodiscard]] settings& config() noexcept { return settings_; }
  [[nodiscard]] const update_rule_type& update_rule() const noexcept { return update_; }
  [[nodiscard]] const block_selector_type& block_selector() const noexcept { return selector_; }
  [[nodiscard]] const consistency_type& consistency() const noexcept { return consistency_; }
  [[nodiscard]] const topology_type& topology() const noexcept { return topology_; }
  // A member template: an explicit instantiation of the class instantiates every non-template
  // member, and Clang 14 does so even where the constraint is not satisfied.
  template <int = 0>
    requires holds_transport
  [[nodiscard]] const transport_type& transport() const noexcept {
    return transport_;
  }
  [[nodiscard]] const quantizer_type& quantizer() const noexcept { return quantizer_; }

 private:
  using store_type = typename consistency_type::store;
  using store_worker = typename store_type::worker;

  template <class>
  friend struct detail::trainer_extras;
  // Installs the code of simulated, recorded and replayed runs: only a trainer that calls
  // simulate(), record() or replay() instantiates it.
  template <int = 0>
  void use_extras() {
    static_assert(detail::complete_type<detail::trainer_extras<trainer>>,
                  "asgd: trainer::simulate, record and replay need #include <asgd/sim/simulation.hpp> (their code is "
                  "there, so that a trainer that is never simulated does not compile the simulator)");
    make_extras_ = &detail::trainer_extras<trainer>::make;
  }

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
    else if constexpr (std::is_same_v<T, transport_type> && holds_transport)
      transport_ = std::forward<V>(v);
    else if constexpr (std::is_same_v<T, quantizer_type>)
      quantizer_ = std::forward<V>(v);
    else
      static_assert(detail::dependent_false<T>,
                    "asgd: a value passed to the trainer's constructor is not of one of its policy types; pass knobs "
                    "only for the policies named in the trainer's template arguments (or their defaults)");
  }

  // The run's layout, fixed before its threads start.
  using plan = detail::run_plan;

  // The averaging side of a run (used only when plan::averaging).
  using averager_type = std::conditional_t<averages, detail::averager<topology_type, transport_type, quantizer_type>,
                                           detail::no_averager>;
  struct averaging_state {
    std::unique_ptr<averager_type> averager;
    std::vector<float> snapshot;
    std::vector<float> mixed;
    std::size_t next_round = 0;  // rounds done (gossip: interactions taken or skipped)
    std::uint64_t skipped = 0;   // gossip: events folded into a later interaction
    double exchange_seconds = 0.0;
    double overlap_seconds = 0.0;
    std::uint64_t lag_sum = 0;  // node steps from rounds' due steps to their mix-ins
    std::uint64_t lag_max = 0;
    std::uint64_t early = 0;  // rounds taken before this node's workers were due (a peer's call)
    std::string scheduling;   // the averager thread's (report.node->averager_scheduling)
    std::vector<consensus_point> consensus;
    double final_consensus = 0.0;
    bool final_averaged = false;  // the final global average was mixed in
    bool means_open = false;      // the transport's split all-reduce was set up (open_means)
    // Rounds on workers: the worker that holds `driving` posts or lands the round; `ticket` is
    // the posted round's (while `posted`), `posted_at` when it was posted, `driven` the
    // seconds the workers spent posting and landing it.
    std::atomic_flag driving;
    std::atomic<bool> posted{false};  // written by the driving worker; read by all before they drive
    std::uint64_t ticket = 0;
    std::chrono::steady_clock::time_point posted_at{};
    double driven = 0.0;

    // Moves the store's model from `snapshot` to `mixed` in place: adds mixed - snapshot, so
    // updates the workers made since the snapshot are kept (LAP-SGD's x += avg - snapshot). A
    // template, so that an explicit instantiation of a trainer without a topology leaves it out.
    template <class Store>
    void mix_into(Store& store) {
      for (std::size_t i = 0; i < mixed.size(); ++i) mixed[i] -= snapshot[i];
      store.mix(std::span<const float>(mixed));
    }

    // A round due at node step `due` landed when the node had done `done`.
    void add_lag(std::uint64_t done, std::uint64_t due) {
      const std::uint64_t lag = done > due ? done - due : 0;
      lag_sum += lag;
      lag_max = std::max(lag_max, lag);
    }

    // Sets the store's model to `mixed` while no worker writes it (a blocking round, the rounds
    // after the last step, the final average): a pass where mix_into takes three, and after an
    // all-reduce every node holds the same model, where x + (avg - x) rounds differently on each
    // node. A mode whose store has no assign (an optional clause) mixes instead.
    template <class Store>
    void assign_to(Store& store) {
      if constexpr (requires { store.assign(std::span<const float>(mixed)); }) {
        store.assign(std::span<const float>(mixed));
      } else {
        mix_into(store);
      }
    }
  };

  using worker_stats = detail::worker_stats;

  // Everything private to one worker, made before the threads start.
  struct alignas(detail::cache_line) worker_context {
    std::size_t id = 0;
    Problem problem;
    typename update_rule_type::state update_state;
    typename block_selector_type::state selection;
    detail::batch_sampler sampler;
    store_worker part;
    detail::aligned_floats gradient;  // aligned: a run's floats must not depend on where malloc puts it
    sparse_gradient sparse;
    std::uint64_t local = 0;  // steps taken by this worker (lockstep modes: its round)
    worker_stats stats;
    std::uint64_t landed = 0;  // free-running modes: the run's progress when its last update landed
    double rate = 0.0;         // and the rate it landed at
    detail::straggler straggler{};  // settings.compute_slowdown's sleeps
  };

  // Every worker's statistics, for the report and the epochs' losses.
  static std::vector<const worker_stats*> stats_of(const std::vector<worker_context>& ctx) {
    std::vector<const worker_stats*> s;
    s.reserve(ctx.size());
    for (const auto& c : ctx) s.push_back(&c.stats);
    return s;
  }

  // What the run shares between workers and the caller: detail::run_state, and the averaging.
  struct shared_state : detail::run_state {
    averaging_state avg;
  };
  using pause_report = detail::pause_report;

  // The barrier's completion, which cannot throw: the other workers wait for the phase it ends.
  struct pause_completion {
    trainer* self;
    const plan* p;
    store_type* store;
    std::vector<worker_context>* ctx;
    shared_state* sh;
    void operator()() noexcept { self->on_pause(*p, *store, *ctx, *sh); }
  };
  using pause_barrier = detail::barrier<pause_completion>;

  plan make_plan() const;
  void plan_averaging(plan& p) const;
  void check_finite(const plan& p, std::uint64_t step) const;
  std::uint64_t next_boundary(const plan& p, std::uint64_t k) const;
  double training_seconds(const shared_state& sh) const { return training_seconds(sh, detail::clock_now()); }
  // As of `at`, a clock_now() reading: one reading, so two times taken from it keep their order.
  double training_seconds(const shared_state& sh, std::chrono::steady_clock::time_point at) const;
  // Both clocks now; and the stamps of the segment that ends now, placed in seconds.
  detail::time_anchor anchor_now(const shared_state& sh) const { return {detail::time_stamp(), training_seconds(sh)}; }
  static void fold_times(std::vector<worker_context>& ctx, detail::time_anchor from, detail::time_anchor to) {
    for (auto& c : ctx) {
      c.stats.intervals.fold(from, to);
      c.stats.epochs.fold(from, to);
    }
  }
  void work(worker_context& c, const plan& p, store_type& store, shared_state& sh, pause_barrier& pause);
  // `next`, when not null, receives the worker's next claimed step, taken between this step's
  // gradient and its update (free-running modes).
  void step(worker_context& c, std::uint64_t k, std::uint64_t at, const plan& p, store_type& store, shared_state& sh,
            std::optional<detail::step_claims::step>* next = nullptr);
  void catch_up(worker_context& c, const plan& p, store_type& store, shared_state& sh);
  // The schedule's rate `progress` steps into the run.
  double rate_at(const plan& p, std::uint64_t progress) const;
  // Where worker c's update lands and at what rate; when the worker was away since its last, a
  // store that holds changes back lands them at `rate` too (rescale_pending).
  void record_landing(worker_context& c, store_type& store, const shared_state& sh, std::uint64_t landed, double rate);
  void on_pause(const plan& p, store_type& store, std::vector<worker_context>& ctx, shared_state& sh) noexcept;
  static void join_evaluator(shared_state& sh) {
    if (sh.evaluator.joinable()) sh.evaluator.join();
  }
  void wake_averager(shared_state& sh) const;
  // Takes the rounds due by `done_steps`, and those below `called` (rounds peers started).
  void average_rounds(const plan& p, store_type& store, shared_state& sh, std::uint64_t done_steps,
                      bool workers_wait, std::uint64_t called = 0);
  // While it lives, a peer's call of a round wakes the averager waiting on `steps` (a transport
  // that calls rounds, when `on`).
  struct round_calls {
    transport_type& transport;
    bool active = false;
    std::chrono::microseconds poll{0};  // a transport whose calls only a poll takes (MPI)
    round_calls(transport_type& t, detail::steps_done& steps, bool on) : transport(t) {
      if constexpr (round_calling_transport<transport_type>) {
        active = on && calls_rounds(t);
        if constexpr (requires { t.round_call_poll(); }) poll = active ? t.round_call_poll() : poll;
        if (active) t.on_round_called(&wake, &steps);
      }
    }
    // Whether `t` calls rounds (a one_of's choice).
    static bool calls_rounds(const transport_type& t) {
      if constexpr (!round_calling_transport<transport_type>) {
        return false;
      } else if constexpr (requires { t.calls_rounds(); }) {
        return t.calls_rounds();
      } else {
        return true;
      }
    }
    ~round_calls() {
      if constexpr (round_calling_transport<transport_type>) {
        if (active) transport.on_round_called(nullptr, nullptr);
      }
    }
    round_calls(const round_calls&) = delete;
    round_calls& operator=(const round_calls&) = delete;
    [[nodiscard]] std::uint64_t called() const {
      if constexpr (round_calling_transport<transport_type>) {
        return transport.rounds_called();
      } else {
        return 0;
      }
    }
    static void wake(void* steps) noexcept { static_cast<detail::steps_done*>(steps)->wake(); }
  };
  // A recorded or replayed run's logs: one a worker, then the node's averaging's (whichever thread
  // runs it: the averager thread, the pause of a blocking node, the end of the run).
  static std::size_t logs_of(const plan& p) noexcept { return p.workers + (p.averaging ? 1 : 0); }
  static detail::event_log* averager_log(const plan& p, shared_state& sh) noexcept {
    return sh.logs != nullptr && p.averaging ? &(*sh.logs)[p.workers] : nullptr;
  }
  void average_in_background(const plan& p, store_type& store, shared_state& sh);
  void drive_round(const plan& p, store_type& store, shared_state& sh);
  void post_driven_round(store_type& store, shared_state& sh);
  void land_driven_round(const plan& p, store_type& store, shared_state& sh, bool workers_wait);
  void finish_averaging(const plan& p, store_type& store, shared_state& sh);
  void settle_for_checkpoint(const plan& p, store_type& store, shared_state& sh, std::uint64_t step);
  template <int = 0>
  void write_checkpoint(const plan& p, const store_type& store, const std::vector<worker_context>& ctx,
                        const shared_state& sh, std::uint64_t step, double trained_seconds) const;
  // A checkpoint a run resumes from: its bytes, and a reader past the part read so far.
  struct resume_state {
    std::vector<std::uint8_t> bytes;
    std::optional<byte_reader> reader;
  };
  // Reads resume_file_'s head into `from`, the model into `initial` and the run's counters into `sh`.
  template <int = 0>
  void read_checkpoint_start(const plan& p, resume_state& from, shared_state& sh, std::vector<float>& initial) const;
  detail::run_names names() const;
  // "consistency::<mode>", for messages.
  std::string mode_name() const { return "consistency::" + detail::describe(consistency_); }
  template <int = 0>
  void read_checkpoint_workers(byte_reader& r, const plan& p, std::vector<worker_context>& ctx);
  template <int = 0>
  void write_checkpoint_averaging(byte_writer& w, const plan& p, const shared_state& sh) const;
  template <int = 0>
  void read_checkpoint_averaging(byte_reader& r, const plan& p, shared_state& sh);
  report summarize(const plan& p, const store_type& store, std::vector<worker_context>& ctx, shared_state& sh,
                   double seconds);

  // The checkpoint code, which checkpoint_to() and resume_from() install: a trainer that calls
  // neither does not compile it (a sixth of a trainer's compile time and a quarter of its code).
  // Its members are templates, so that an explicit instantiation of the trainer does not either.
  struct checkpoint_code {
    void (trainer::*write)(const plan&, const store_type&, const std::vector<worker_context>&, const shared_state&,
                           std::uint64_t, double) const;
    void (trainer::*read_start)(const plan&, resume_state&, shared_state&, std::vector<float>&) const;
    void (trainer::*read_workers)(byte_reader&, const plan&, std::vector<worker_context>&);
    void (trainer::*read_averaging)(byte_reader&, const plan&, shared_state&);
    void (*check_writable)(const std::string&, std::string_view);
  };
  template <int = 0>
  static const checkpoint_code* checkpoint_members() noexcept {
    static constexpr checkpoint_code code{&trainer::write_checkpoint<0>, &trainer::read_checkpoint_start<0>,
                                          &trainer::read_checkpoint_workers<0>,
                                          &trainer::read_checkpoint_averaging<0>, &detail::check_writable};
    return &code;
  }

  Problem problem_;
  settings settings_;
  update_rule_type update_{};
  block_selector_type selector_{};
  consistency_type consistency_{};
  [[no_unique_address]] topology_type topology_{};
  [[no_unique_address]] std::conditional_t<holds_transport, transport_type, detail::no_transport> transport_{};
  [[no_unique_address]] quantizer_type quantizer_{};
  std::function<void(const epoch_progress&)> on_epoch_;
  std::string checkpoint_file_;
  std::uint64_t checkpoint_every_ = 0;
  std::string resume_file_;
  const checkpoint_code* checkpoints_ = nullptr;  // set by checkpoint_to() and resume_from()
  // What simulate() gave (null: not simulated). A pointer, so that this header needs only the
  // type's name: the cost model's header and its file parser cost every trainer's translation
  // unit about 0.1 s of compile time.
  std::shared_ptr<const sim::cost_model> simulate_;
  sim::recording* record_ = nullptr;
  const sim::recording* replay_ = nullptr;
  // Set by simulate(), record() and replay(): makes a run's extras (null: nothing to do).
  std::unique_ptr<detail::run_extras> (*make_extras_)(const trainer&, const plan&, bool nested) = nullptr;
  detail::aligned_floats parameters_;  // aligned: an evaluation's floats must not depend on where malloc puts it
};

}  // namespace asgd::inline v0

// The members, one concern per file.
#include <asgd/trainer/plan.hpp>
#include <asgd/trainer/run.hpp>
#include <asgd/trainer/worker.hpp>
#include <asgd/trainer/averaging.hpp>
#include <asgd/trainer/pause.hpp>
#include <asgd/trainer/checkpoint.hpp>
#include <asgd/trainer/summary.hpp>
