// The README's example, compiled and run as a test.
#include <cstdio>

// [example-begin quickstart]
#include <asgd/asgd.hpp>      // the library: link asgd::asgd
#include <asgd/problems.hpp>  // reference problems (Eigen, zlib): link asgd::problems

int main() {
  auto data = asgd::problems::make_logistic_regression(/*rows=*/20000, /*cols=*/50, /*seed=*/1);

  using trainer = asgd::trainer<asgd::problems::logistic_regression,
                                asgd::consistency::leashed,   // how threads share the model
                                asgd::update::momentum,       // what a step does
                                asgd::select::round_robin>;   // which block of the model a step updates

  trainer t{data.problem, {.threads = 4, .epochs = 3, .batch = 16, .lr = 0.01f},
            asgd::update::momentum{.mu = 0.9f}};
  asgd::report r = t.run();  // r.to_json() has everything the run measured
  std::printf("accuracy %.3f (generating model %.3f), %.0f samples/s, mean staleness %.2f\n",
              r.final_evaluation->accuracy, data.reference_accuracy, r.samples_per_second, r.staleness.mean());
  return r.final_evaluation->accuracy > data.reference_accuracy - 0.02 ? 0 : 1;
}
// [example-end quickstart]
