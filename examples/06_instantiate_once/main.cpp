// A user translation unit: it includes the declaring header and trains, without compiling the
// trainer (scripts/compile-time.sh measures what that saves).
#include "line_trainer.hpp"

#include <asgd/random.hpp>

#include <cmath>
#include <cstdio>

int main() {
  line_fit problem;
  asgd::rng g(1);
  for (std::size_t i = 0; i < 200000; ++i) {
    const auto x0 = static_cast<float>(g.normal()), x1 = static_cast<float>(g.normal());
    problem.xs.insert(problem.xs.end(), {x0, x1});
    problem.ys.push_back(3.0f * x0 - 2.0f * x1);
  }
  // [example-begin use]
  line_trainer t{problem, {.threads = 2, .epochs = 1, .batch = 8, .lr = 0.01f}};
  const asgd::report r = t.run();
  // [example-end use]
  std::printf("w = (%.3f, %.3f) after %llu updates\n", t.parameters()[0], t.parameters()[1],
              static_cast<unsigned long long>(r.updates_applied));
  const bool ok = std::abs(t.parameters()[0] - 3.0f) < 1e-2f && std::abs(t.parameters()[1] + 2.0f) < 1e-2f;
  return ok ? 0 : 1;
}
