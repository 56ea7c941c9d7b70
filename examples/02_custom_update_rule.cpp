// Writing your own update rule: Adagrad, per coordinate, with per-worker state, run under two
// consistency modes it was never written for.
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

// [example-begin adagrad]
// An update rule says what one step does to one coordinate: given the gradient g and the
// current value x of coordinate i, it returns the direction d; the step is x <- x - lr * d.
struct adagrad {
  using policy_kind = asgd::update_rule_tag;  // opt in: "this is an update rule"
  static constexpr std::string_view name = "adagrad";

  float epsilon = 1e-8f;  // a knob, filled with designated initializers

  // Optimizer state of one worker (asgd gives each worker its own, as the papers do).
  struct state {
    std::vector<float> sum_of_squares;
  };
  state make_state(std::size_t dimension) const { return {std::vector<float>(dimension, 0.0f)}; }

  // Touch only coordinate i of the state: disjoint ranges may be stepped by different threads.
  float direction(state& s, std::size_t i, float g, float /*x*/) const {
    float& acc = s.sum_of_squares[i];
    acc += g * g;
    return g / (std::sqrt(acc) + epsilon);
  }
};
static_assert(asgd::update_rule<adagrad>);
// [example-end adagrad]

template <class Mode>
double train(const asgd::problems::classification_instance<asgd::problems::logistic_regression>& inst) {
  // [example-begin use]
  asgd::trainer<asgd::problems::logistic_regression, Mode, adagrad> t{
      inst.problem, {.threads = 2, .epochs = 3, .batch = 16, .lr = 0.1f}, adagrad{.epsilon = 1e-6f}};
  const asgd::report r = t.run();
  // [example-end use]
  std::printf("%-10s adagrad: accuracy %.3f (generating model %.3f), loss %.4f\n", std::string(Mode::name).c_str(),
              r.final_evaluation->accuracy, inst.reference_accuracy, r.final_evaluation->loss);
  return r.final_evaluation->accuracy;
}

int main() {
  const auto inst = asgd::problems::make_logistic_regression(20000, 30, 7);
  const double a = train<asgd::consistency::hogwild>(inst);
  const double b = train<asgd::consistency::leashed>(inst);
  return a > inst.reference_accuracy - 0.02 && b > inst.reference_accuracy - 0.02 ? 0 : 1;
}
