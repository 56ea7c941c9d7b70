// Knobs for a policy the trainer does not use.
// expect: asgd: a value passed to the trainer's constructor is not of one of its policy types
#include <asgd/asgd.hpp>

int main() {
  asgd::trainer<asgd::problems::least_squares, asgd::update::sgd> t{
      asgd::problems::make_least_squares(10, 2, 0.0, 1).problem, {},
#ifdef ASGD_COMPILE_FAIL_OK
      asgd::update::sgd{.weight_decay = 0.1f}};
#else
      asgd::update::momentum{.mu = 0.9f}};
#endif
  return t.config().threads == 1 ? 0 : 1;
}
