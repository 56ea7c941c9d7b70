#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): the run: the store, the workers,
// the averager thread and the pauses put together, then the report.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

template <class Problem, class... Policies>
report trainer<Problem, Policies...>::run() {
  const plan p = make_plan();
  // A run on a simulated task (run_in_process's nodes, say) is part of that task's simulation:
  // its workers are tasks spawned there, whatever simulate() was given.
  detail::simulation_hooks* const outer = detail::simulated();
  const bool nested = outer != nullptr && outer->in_task();
  const auto host_start = std::chrono::steady_clock::now();
  const bool replaying = replay_ != nullptr;
  if (simulate_ || replaying || nested) {
    if constexpr (!consistency_mode_can_be_simulated<consistency_type>) {
      throw std::invalid_argument("asgd: trainer::simulate: consistency mode " + detail::describe(consistency_) +
                                  " does not declare `static constexpr bool simulatable = true`: a store that waits "
                                  "on an OS primitive would stop a simulated run (docs/policies/consistency.md)");
    }
    if (p.averaging && !nested) {
      throw std::invalid_argument("asgd: trainer::simulate: node " + std::to_string(p.node) + " of " +
                                  std::to_string(p.nodes) + " averages (topology " + detail::describe(topology_) +
                                  "), and its peers are not in its simulation: simulate the group with "
                                  "sim::run_in_process");
    }
  }
  // A simulated run started here (its workers are tasks in virtual time, and this thread reads
  // the simulation's clock until the report is written), a recorded or a replayed one.
  const std::unique_ptr<detail::run_extras> extras = make_extras_ != nullptr ? make_extras_(*this, p, nested) : nullptr;
  const bool simulating = extras != nullptr && extras->simulates();
  if (p.rounds_on_workers && (extras != nullptr || nested)) {
    throw std::invalid_argument("asgd: settings.averaging.rounds_on_workers: a simulated, recorded or replayed run "
                                "takes its rounds on the averager's task, whose events it models and records");
  }
  shared_state sh;
  if (extras != nullptr) sh.logs = extras->logs();

  std::vector<float> initial(p.dimension, 0.0f);
  if constexpr (initializable_problem<Problem>) problem_.initialize(std::span<float>(initial), settings_.seed);
  resume_state resume;
  if (!resume_file_.empty()) (this->*checkpoints_->read_start)(p, resume, sh, initial);
  // A blocking node's rounds mix while its workers wait: no writer beside them then.
  store_type store(consistency_,
                   store_config{p.dimension, p.workers, p.averaging ? 1u : 0u, 0, p.staleness_every,
                                !settings_.averaging.blocking},
                   std::span<const float>(initial));
  if (p.averaging) {
    sh.done_steps.start(p.workers, sh.started_at);  // the node's steps count from the run's start
  }

  // Every worker's private part is made here, so an allocation failure throws before any
  // thread waits for another.
  std::vector<worker_context> ctx;
  ctx.reserve(p.workers);
  for (std::size_t w = 0; w < p.workers; ++w) {
    ctx.push_back({w, problem_, update_.make_state(p.dimension),
                   selector_.make_state({p.layout, p.dimension, w, p.workers, settings_.seed}),
                   detail::batch_sampler(p.shard, p.samples, settings_.sample_order, w, p.workers, settings_.seed,
                                         p.node),
                   store.make_worker(w), detail::aligned_floats(sparse_problem<Problem> ? 0 : p.dimension),
                   sparse_gradient{}, 0, worker_stats{}});
  }
  if (resume.reader) {
    (this->*checkpoints_->read_workers)(*resume.reader, p, ctx);
    for (const auto& c : ctx) sh.restored_steps += c.stats.steps;
  }

  // Only a trainer with a topology compiles the averaging (here, and in the averaging members'
  // bodies): the others never construct an averager, and do not instantiate one (about a fifth
  // of a trainer's code).
  if constexpr (averages) {
    if (p.averaging) {
      sh.avg.averager = std::make_unique<averager_type>(topology_, transport_, quantizer_, p.dimension, settings_.seed,
                                                         p.shard.sizes);
      if (p.rounds_on_workers) {
        if (const std::string why = sh.avg.averager->why_rounds_cannot_split(); !why.empty()) {
          throw std::invalid_argument("asgd: settings.averaging.rounds_on_workers: node " + std::to_string(p.node) +
                                      " (topology " + detail::describe(topology_) + ", quantizer " +
                                      detail::describe(quantizer_) + ", transport " + detail::describe(transport_) +
                                      "): " + why);
        }
        sh.avg.scheduling = "none: rounds on workers";
      }
      sh.avg.snapshot.assign(p.dimension, 0.0f);
      sh.avg.mixed.assign(p.dimension, 0.0f);
      // Gossip nodes take different numbers of events: they agree on the mean gap instead, and on
      // gossiping at all before the collective that opens it.
      const std::pair<const char*, std::uint64_t> schedule[] = {
          {"the dimension", p.dimension},
          {"the steps per node", p.total_steps},
          {"whether the topology gossips (1) or runs rounds (0)", p.gossip ? 1u : 0u},
          p.gossip ? std::pair<const char*, std::uint64_t>{"settings.averaging.every", settings_.averaging.every}
                   : std::pair<const char*, std::uint64_t>{"the averaging rounds", p.triggers.size()},
          {"settings.seed (it draws the random matchings)", settings_.seed},
          {"whether rounds start when their first node is due (settings.averaging.first_due_starts and not "
           "blocking: 1)",
           p.first_due_calls ? 1u : 0u},
          {"the step of the checkpoint it resumes from (0: none)", sh.started_at},
          {"the checkpoint interval (0: none)", checkpoint_every_},
          {"whether the workers take the rounds (settings.averaging.rounds_on_workers: 1)",
           p.rounds_on_workers ? 1u : 0u}};
      sh.avg.averager->handshake(schedule);
      if (resume.reader) (this->*checkpoints_->read_averaging)(*resume.reader, p, sh);
      // Non-blocking rounds that are one all-reduce of the model take the transport's prepared
      // all-reduce where it has one (mpi on one machine: a shared-memory window, which needs no
      // rank's MPI calls to move on; other topologies' rounds exchange messages and leave it).
      if (!p.gossip && !settings_.averaging.blocking && sh.avg.averager->rounds_are_one_mean()) {
        sh.avg.averager->open_means(p.dimension);
        sh.avg.means_open = true;
      }
      if (p.gossip) sh.avg.averager->open_gossip(std::span<const float>(initial));
    }
  }
  pause_barrier pause(static_cast<std::ptrdiff_t>(p.workers), pause_completion{this, &p, &store, &ctx, &sh});
  sh.claims.emplace(p.workers);
  sh.claims->start(sh.reported_step);
  sh.segment_end = next_boundary(p, sh.reported_step);
  sh.start = detail::clock_now();
  sh.segment_start = {detail::time_stamp(), sh.time_offset};
  {
    // The run's code on its threads; detail::run_crew_threads starts and joins them, the same
    // code for every trainer.
    struct crew final : detail::run_crew {
      trainer& t;
      const plan& p;
      store_type& store;
      std::vector<worker_context>& ctx;
      shared_state& sh;
      pause_barrier& pause;
      crew(trainer& t_, const plan& p_, store_type& store_, std::vector<worker_context>& ctx_, shared_state& sh_,
           pause_barrier& pause_)
          : t(t_), p(p_), store(store_), ctx(ctx_), sh(sh_), pause(pause_) {}
      void work(std::size_t w) override { t.work(ctx[w], p, store, sh, pause); }
      void average(std::string_view scheduling) override {
        if (!scheduling.empty()) sh.avg.scheduling = scheduling;  // written before any round, read after the join
        t.average_in_background(p, store, sh);
      }
      // The workers started must not wait for those that never ran: these leave the pause and
      // the store in their place, and the stop flag ends the others' loops.
      void start_failed(std::size_t started) override {
        sh.fail(std::current_exception());
        for (std::size_t w = started; w < ctx.size(); ++w) {
          pause.arrive_and_drop();
          store.finish(ctx[w].part);
        }
        if (p.averaging) t.wake_averager(sh);
      }
      void workers_finished() override {
        sh.workers_end = detail::clock_now();
        join_evaluator(sh);  // the last pause's evaluation, if it runs in the background
        fold_times(ctx, sh.segment_start, t.anchor_now(sh));
        sh.workers_done.store(true, std::memory_order_release);
      }
      void wake_averager() override { t.wake_averager(sh); }
    } on_threads(*this, p, store, ctx, sh, pause);
    detail::crew_shape shape;
    shape.workers = p.workers;
    shape.node = p.node;
    shape.averager = p.averaging && !settings_.averaging.blocking && !p.rounds_on_workers;
    shape.realtime_averager = settings_.averaging.realtime_averager;
    shape.outer = nested ? outer : nullptr;
    shape.simulation = !nested && simulating ? extras.get() : nullptr;
    detail::run_crew_threads(shape, on_threads);
    if (p.averaging && !sh.error) {
      try {
        finish_averaging(p, store, sh);
      } catch (...) {
        sh.error = std::current_exception();
      }
    }
  }
  const double seconds = std::chrono::duration<double>(detail::clock_now() - sh.start).count();
  if (sh.error) {
    if constexpr (averages && requires(transport_type& t) { t.leave(std::string_view{}); }) {
      // Peers waiting for this node learn at once that it is gone, instead of at their timeout.
      if (p.averaging) transport_.leave("its run failed");
    }
    std::rethrow_exception(sh.error);
  }
  if (extras != nullptr) extras->finish(p.workers);
  if (checkpoint_every_ > 0 && sh.checkpointed_step < p.total_steps && !p.averaging) {
    // The end of the run is a checkpoint too, so a longer run can continue from it (not a
    // node's: its final average is not a state its training passes through).
    parameters_.assign(p.dimension, 0.0f);
    store.copy_to(std::span<float>(parameters_));
    check_finite(p, p.total_steps);
    (this->*checkpoints_->write)(p, store, ctx, sh, p.total_steps, seconds - sh.paused + sh.time_offset);
  }
  report r = summarize(p, store, ctx, sh, seconds);
  if (simulating || nested) {
    r.simulation = simulation_record{
        std::chrono::duration<double>(std::chrono::steady_clock::now() - host_start).count(),
        simulating ? extras->switches() : 0};
  }
  if (on_epoch_) {
    if (const std::optional<epoch_progress> last = detail::last_epoch_progress(r, p, sh, seconds)) on_epoch_(*last);
  }
  return r;
}

}  // namespace asgd::inline v0
