// One timed run for experiments/ab/ab.sh: two HOGWILD! workers (or `atomic_add` with the
// argument "atomic") on bench_scaling's sparse problem, logistic regression 100k x 20k with 50
// non-zeros a row, batch 1, 400,000 steps. Prints the run's samples per second.
#include <asgd/consistency/atomic_add.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/problems/synthetic.hpp>
#include <asgd/trainer.hpp>
#include <asgd/update/sgd.hpp>

#include <cstdio>
#include <string_view>

int main(int argc, char** argv) {
  using problem = asgd::problems::sparse_logistic_regression;
  const problem p = asgd::problems::make_sparse_logistic_regression(100000, 20000, 50, 7).problem;
  const asgd::settings s{.threads = 2, .steps = 400000, .batch = 1, .lr = 0.05f, .seed = 1};
  double rate = 0.0;
  if (argc > 1 && std::string_view(argv[1]) == "atomic") {
    asgd::trainer<problem, asgd::consistency::atomic_add, asgd::update::sgd> t{p, s};
    rate = t.run().samples_per_second;
  } else {
    asgd::trainer<problem, asgd::consistency::hogwild, asgd::update::sgd> t{p, s};
    rate = t.run().samples_per_second;
  }
  std::printf("%.0f\n", rate);
}
