// A problem whose gradient has the wrong signature: the error names clause 3 of asgd::problem.
// expect: asgd: the problem lacks clause 3 of asgd::problem
// expect: check_problem<.*quadratic
#include <asgd/trainer.hpp>

#include <span>

struct quadratic {
  std::size_t dimension() const { return 3; }
  std::size_t num_samples() const { return 1; }
#ifdef ASGD_COMPILE_FAIL_OK
  float gradient(std::span<const float> x, asgd::batch_view, std::span<float> g) const {
#else
  float gradient(std::span<const float> x, std::span<float> g) const {
#endif
    float loss = 0;
    for (std::size_t i = 0; i < 3; ++i) {
      g[i] = x[i];
      loss += x[i] * x[i] / 2;
    }
    return loss;
  }
};

int main() {
  asgd::trainer<quadratic> t{quadratic{}};
  return t.config().threads == 1 ? 0 : 1;
}
