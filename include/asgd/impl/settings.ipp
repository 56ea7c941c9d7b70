#pragma once
// The definition of settings::validate (ASGD_DECL: inline unless ASGD_SEPARATE_COMPILATION,
// then compiled once through <asgd/src.hpp>).

#include <asgd/settings.hpp>

namespace asgd::inline v0 {

ASGD_DECL void settings::validate() const {
  detail::require(threads >= 1, "settings", "threads", threads, "must be at least 1");
  detail::require(threads <= 4096, "settings", "threads", threads, "must be at most 4096");
  detail::require(epochs >= 1 || steps >= 1, "settings", "epochs", epochs, "must be at least 1 when steps is 0");
  detail::require(epochs <= 1000000, "settings", "epochs", epochs, "must be at most 1e6");
  detail::require(steps <= max_steps, "settings", "steps", steps,
                  "must be at most 2^53 (step numbers must stay exact in a double)");
  detail::require(batch >= 1, "settings", "batch", batch, "must be at least 1");
  detail::require(std::isfinite(lr) && lr > 0.0f, "settings", "lr", lr, "must be a finite number > 0");
  detail::require(epochs_per_evaluation >= 1 && epochs_per_evaluation <= 1000000, "settings", "epochs_per_evaluation",
                  epochs_per_evaluation, "must be in [1, 1e6]");
  detail::require(evaluations_per_epoch <= 1000, "settings", "evaluations_per_epoch", evaluations_per_epoch,
                  "must be at most 1000");
  lr_schedule.validate();
  staleness.validate();
  detail::require(staleness_every <= 1000000, "settings", "staleness_every", staleness_every,
                  "must be at most 1e6 (0 = automatic)");
  detail::require(staleness_every <= 1 || staleness.type == staleness_scaling::kind::none, "settings",
                  "staleness_every", staleness_every,
                  "must be 0 or 1 when staleness scaling is on (the step of every update depends on its staleness)");
  averaging.validate();
  shards.validate();
  detail::require(std::isfinite(compute_slowdown) && compute_slowdown >= 1.0 && compute_slowdown <= 1000.0, "settings",
                  "compute_slowdown", compute_slowdown, "must be a number in [1, 1000]");
}

}  // namespace asgd::inline v0
