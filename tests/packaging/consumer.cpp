// The consumer the packaging tests build: train, check the result. It includes the headers it
// uses, as the docs advise, not the umbrella (which costs 10 s of compile time more, and whose
// headers are installed as one directory with the rest).
#include <asgd/consistency/leashed.hpp>
#include <asgd/problems/synthetic.hpp>
#include <asgd/trainer.hpp>
#include <asgd/update/momentum.hpp>
#include <asgd/version.hpp>

#include <cstdio>

int main() {
  auto inst = asgd::problems::make_least_squares(500, 5, 0.0, 1);
  asgd::trainer<asgd::problems::least_squares, asgd::consistency::leashed, asgd::update::momentum> t{
      inst.problem, {.threads = 2, .epochs = 20, .batch = 5, .lr = 0.002f}};
  const auto r = t.run();
  std::printf("asgd %s: final loss %g\n", asgd::version_string.data(), r.final_evaluation->loss);
  return r.final_evaluation->loss < 1e-3 ? 0 : 1;
}
