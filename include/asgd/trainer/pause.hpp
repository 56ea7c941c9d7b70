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
      const detail::pause_duties duties = detail::pause_duties_at(p, sh, settings_, checkpoint_every_, k);
      if (duties.copies_model()) {
        parameters_.assign(p.dimension, 0.0f);
        store.copy_to(std::span<float>(parameters_));
        check_finite(p, k);
      }
      // The training time at the pause's start (not now less the time since: two readings of the
      // clock, between which a descheduled thread could put this before the segment's end).
      const double trained = training_seconds(sh, t0);
      const bool reports = duties.epoch_end && on_epoch_;
      pause_report rep = detail::open_pause_report(
          sh, p, duties, reports ? stats_of(ctx) : std::vector<const worker_stats*>{}, settings_.batch, k, trained,
          reports);
      const bool evaluates = evaluable_problem<Problem> && duties.evaluation_due;
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
                detail::publish(sh, rep, problem_.evaluate(std::span<const float>(sh.evaluated)), on_epoch_);
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
          detail::publish(sh, rep, eval, on_epoch_);
        }
      } else {
        detail::publish(sh, rep, std::nullopt, on_epoch_);
      }
      sh.reported_step = k;
      if (duties.checkpoint_due) {
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

}  // namespace asgd::inline v0
