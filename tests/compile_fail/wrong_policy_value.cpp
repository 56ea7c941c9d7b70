// Knobs for a policy the trainer does not use.
// expect: asgd: a value passed to the trainer's constructor is not of one of its policy types
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>
#include <asgd/update/momentum.hpp>
#include <asgd/update/sgd.hpp>

int main() {
  asgd::trainer<tiny_problem, asgd::update::sgd> t{
      tiny_problem{}, {},
#ifdef ASGD_COMPILE_FAIL_OK
      asgd::update::sgd{.weight_decay = 0.1f}};
#else
      asgd::update::momentum{.mu = 0.9f}};
#endif
  return t.config().threads == 1 ? 0 : 1;
}
