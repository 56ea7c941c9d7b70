// The consumer every packaging test builds: include the umbrella, train, check the result.
#include <asgd/asgd.hpp>

#include <cstdio>

int main() {
  auto inst = asgd::problems::make_least_squares(500, 5, 0.0, 1);
  asgd::trainer<asgd::problems::least_squares, asgd::consistency::leashed, asgd::update::momentum> t{
      inst.problem, {.threads = 2, .epochs = 20, .batch = 5, .lr = 0.002f}};
  const auto r = t.run();
  std::printf("asgd %s: final loss %g\n", asgd::version_string.data(), r.final_evaluation->loss);
  return r.final_evaluation->loss < 1e-3 ? 0 : 1;
}
