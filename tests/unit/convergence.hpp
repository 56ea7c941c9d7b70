#pragma once
// The convergence matrix: every consistency mode x every update rule on least squares (dense
// and sparse) and logistic regression, with the tolerances stated below. Each mode is
// instantiated in its own translation unit (convergence_<mode>.cpp) to keep builds parallel.
//
// Stated tolerances (after 8 epochs, batch 8, cosine schedule; 4 threads except sequential):
// - least squares, dense 2000 x 20 (noise 0.1) and sparse 4000 x 200 (8 per row): excess loss
//   f(x) - f* at most 0.1% of the initial excess f(0) - f*, and the distance to the minimiser
//   at most 5% of its norm;
// - logistic regression, 4000 x 20: training accuracy at least the generating model's minus 1
//   point, and loss at most the generating model's loss plus 0.02.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <type_traits>

namespace asgd_test {

template <class Rule>
constexpr float convergence_lr(float sgd_lr) {
  // Momentum 0.9 multiplies the effective step by 10.
  return std::is_same_v<Rule, asgd::update::sgd> ? sgd_lr : sgd_lr / 10.0f;
}

template <class Mode>
asgd::settings convergence_settings(float lr) {
  return {.threads = Mode::max_workers == 1 ? 1u : 4u,
          .epochs = 8,
          .batch = 8,
          .lr = lr,
          .seed = 3,
          .lr_schedule = asgd::schedule::cosine(8.0)};
}

template <class Mode, class Rule, class Instance>
void check_least_squares(const Instance& inst, float lr) {
  using P = std::remove_cvref_t<decltype(inst.problem)>;
  asgd::trainer<P, Mode, Rule> t{inst.problem, convergence_settings<Mode>(convergence_lr<Rule>(lr))};
  const auto r = t.run();
  const std::vector<float> zero(inst.optimum.size(), 0.0f);
  const double initial_excess = inst.problem.evaluate(zero).loss - inst.optimal_loss;
  const double excess = r.final_evaluation->loss - inst.optimal_loss;
  const double dist = std::sqrt(distance2(t.parameters(), inst.optimum));
  const double norm = std::sqrt(distance2(zero, inst.optimum));
  // The coordinate farthest from the minimiser and the largest staleness say, on a failure,
  // whether a few coordinates took a late change (a worker descheduled within its write, which
  // lands the rest of an early change at its early rate: docs/policies/consistency.md, hogwild)
  // or all drifted.
  std::size_t worst = 0;
  for (std::size_t i = 1; i < inst.optimum.size(); ++i) {
    if (std::abs(t.parameters()[i] - inst.optimum[i]) > std::abs(t.parameters()[worst] - inst.optimum[worst])) worst = i;
  }
  INFO(Mode::name << " + " << Rule::name << " on " << asgd::detail::describe(inst.problem) << ": excess " << excess
                  << " of " << initial_excess << ", distance " << dist << " of " << norm << "; coordinate " << worst
                  << " is " << t.parameters()[worst] << " against " << inst.optimum[worst] << "; staleness up to "
                  << r.staleness.max());
  CHECK(excess <= 1e-3 * initial_excess);
  CHECK(dist <= 0.05 * norm);
}

template <class Mode, class Rule>
void check_logistic(const asgd::problems::classification_instance<asgd::problems::logistic_regression>& inst) {
  asgd::trainer<asgd::problems::logistic_regression, Mode, Rule> t{
      inst.problem, convergence_settings<Mode>(convergence_lr<Rule>(0.1f))};
  const auto r = t.run();
  const auto truth = inst.problem.evaluate(inst.truth);
  INFO(Mode::name << " + " << Rule::name << ": accuracy " << r.final_evaluation->accuracy << " (reference "
                  << inst.reference_accuracy << "), loss " << r.final_evaluation->loss << " (reference " << truth.loss
                  << ")");
  CHECK(r.final_evaluation->accuracy >= inst.reference_accuracy - 0.01);
  CHECK(r.final_evaluation->loss <= truth.loss + 0.02);
}

template <class Mode, class Rule>
void convergence_case() {
  static const auto dense = asgd::problems::make_least_squares(2000, 20, 0.1, 21);
  static const auto sparse = asgd::problems::make_sparse_least_squares(4000, 200, 8, 22);
  static const auto logistic = asgd::problems::make_logistic_regression(4000, 20, 23);
  check_least_squares<Mode, Rule>(dense, 0.02f);
  check_least_squares<Mode, Rule>(sparse, 0.3f);
  check_logistic<Mode, Rule>(logistic);
}

}  // namespace asgd_test

#define ASGD_CONVERGENCE_TESTS(Mode)                                                                         \
  TEST_SUITE("convergence") {                                                                                \
    TEST_CASE_TEMPLATE(#Mode " converges with every update rule", Rule, asgd::update::sgd,                   \
                       asgd::update::momentum, asgd::update::nesterov) {                                     \
      asgd_test::convergence_case<Mode, Rule>();                                                             \
    }                                                                                                        \
  }
