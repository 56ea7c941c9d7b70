#pragma once
// Part of <asgd/trainer.hpp> (which includes it after the class): what runs while every worker
// waits at a segment end: blocking averaging, evaluation, progress, checkpoints.

#include <asgd/trainer.hpp>

namespace asgd::inline v0 {

// Runs on one thread while every other worker waits: checks the parameters, reports finished
// epochs, writes a checkpoint when one is due, and opens the next segment.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::on_pause(const plan& p, store_type& store, std::vector<worker_context>& ctx,
                                             shared_state& sh) noexcept {
  // On a worker's thread but in no worker's log: which worker arrives last differs between a
  // recorded run and its replay, and what runs here is the same whichever it is.
  const detail::event_log_scope unlogged(nullptr);
  const std::uint64_t k = sh.segment_end;  // every step before k is done, none after it begun
  fold_times(ctx, sh.segment_start, anchor_now(sh));
  join_evaluator(sh);  // the last pause's evaluation has published what it found
  try {
    if (!sh.stop.load(std::memory_order_relaxed)) {
      // A blocking node averages here, while its workers wait; that is training time.
      if (p.averaging && settings_.averaging.blocking) average_rounds(p, store, sh, k, true);
      const auto t0 = detail::clock_now();
      const std::uint64_t first_epoch = sh.reported_step / p.steps_per_epoch;
      const std::uint64_t done_epochs = k / p.steps_per_epoch;
      const bool epoch_end = p.epoch_pauses && done_epochs > first_epoch;
      const std::uint64_t every = settings_.epochs_per_evaluation;
      const bool epoch_evaluated = epoch_end && (done_epochs / every > first_epoch / every || k == p.total_steps);
      const bool eval_due = p.evaluate_every > 0 && k / p.evaluate_every > sh.reported_step / p.evaluate_every;
      const bool checkpoint_due = checkpoint_every_ > 0 && k / checkpoint_every_ > sh.checkpointed_step / checkpoint_every_;
      // A pause for a blocking average alone neither copies nor checks the parameters: with an
      // average after every step, that was two passes over the model a step, on a core the other
      // nodes need. Every step's loss is still checked.
      if (epoch_end || eval_due || checkpoint_due) {
        parameters_.assign(p.dimension, 0.0f);
        store.copy_to(std::span<float>(parameters_));
        check_finite(p, k);
      }
      // The training time at the pause's start (not now less the time since: two readings of the
      // clock, between which a descheduled thread could put this before the segment's end).
      const double trained = training_seconds(sh, t0);
      pause_report rep;
      rep.step = k;
      rep.epoch = static_cast<double>(k) / static_cast<double>(p.steps_per_epoch);
      rep.trained = trained;
      const bool evaluates = evaluable_problem<Problem> && (epoch_evaluated || eval_due);
      if (epoch_end) {
        rep.first_epoch = first_epoch;
        rep.done_epochs = done_epochs;
        if (sh.epoch_eval.size() < done_epochs) sh.epoch_eval.resize(static_cast<std::size_t>(done_epochs));
        const std::vector<const worker_stats*> stats = on_epoch_ ? stats_of(ctx) : std::vector<const worker_stats*>{};
        for (std::uint64_t e = first_epoch; e < done_epochs && on_epoch_; ++e) {
          epoch_progress ep;
          ep.epoch = static_cast<std::size_t>(e + 1);
          ep.epochs = p.epoch_bins;
          ep.steps = k;
          ep.total_steps = p.total_steps;
          ep.train_loss = detail::sum_bin(stats, &worker_stats::epochs, static_cast<std::size_t>(e)).loss;
          ep.seconds = trained;
          const double run_seconds = trained - sh.time_offset;
          const double done_here = static_cast<double>(k - sh.started_at);
          ep.samples_per_second = run_seconds > 0 ? done_here * static_cast<double>(settings_.batch) / run_seconds : 0.0;
          ep.eta_seconds =
              done_here > 0 ? run_seconds * static_cast<double>(p.total_steps - k) / done_here : 0.0;
          rep.progress.push_back(ep);
        }
      }
      // A node that averages without blocking evaluates in the background: if its workers waited
      // for the test set, the other nodes would run on (hundreds of steps an epoch on shared
      // cores), and the rounds would mix models that far apart.
      const bool background = evaluates && settings_.background_evaluations && p.averaging &&
                              !settings_.averaging.blocking && detail::simulated() == nullptr && sh.logs == nullptr;
      bool started = false;
      if constexpr (evaluable_problem<Problem>) {
        if (background) {
          sh.evaluated.assign(parameters_.begin(), parameters_.end());
          try {
            sh.evaluator = detail::start_thread("evaluation thread", [this, &sh, rep]() mutable {
              try {
                publish(sh, rep, problem_.evaluate(std::span<const float>(sh.evaluated)));
              } catch (...) {
                sh.fail(std::current_exception());
              }
            });
            started = true;
          } catch (const std::system_error&) {
            // No thread to spare: the evaluation runs here, as on every other node.
          }
        }
        if (!started) {
          std::optional<evaluation> eval;
          if (evaluates) {
            detail::charge_evaluation();  // simulated: the cost model's time on a core, as other nodes train
            eval = problem_.evaluate(std::span<const float>(parameters_));
          }
          publish(sh, rep, eval);
        }
      } else {
        publish(sh, rep, std::nullopt);
      }
      sh.reported_step = k;
      if (checkpoint_due) {
        if (p.averaging) {
          settle_for_checkpoint(p, store, sh, k);
          store.copy_to(std::span<float>(parameters_));
        }
        (this->*checkpoints_->write)(p, store, ctx, sh, k, trained);
        sh.checkpointed_step = k;
        if constexpr (averages) {
          if (p.averaging) {
            float written[1] = {0.0f};
            transport_.all_reduce_mean(written);  // every node's file is in place before any exchange
          }
        }
      }
      sh.paused += std::chrono::duration<double>(detail::clock_now() - t0).count();
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

// Records a pause's evaluation (in the run's list, and for each epoch that ended there) and
// calls on_epoch for those epochs; on the pause's thread, or on the evaluation thread.
template <class Problem, class... Policies>
void trainer<Problem, Policies...>::publish(shared_state& sh, pause_report& rep, const std::optional<evaluation>& eval) {
  if (eval) sh.evaluations.push_back({rep.step, rep.epoch, rep.trained, *eval});
  for (std::uint64_t e = rep.first_epoch; e < rep.done_epochs; ++e) sh.epoch_eval[e] = eval;
  for (epoch_progress& ep : rep.progress) {
    ep.eval = eval;
    on_epoch_(ep);
  }
}

}  // namespace asgd::inline v0
