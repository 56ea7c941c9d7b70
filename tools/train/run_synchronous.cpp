#include "run.hpp"

namespace asgd_train {
asgd::report run_synchronous(const run_inputs& in) {
  return with_rule(in, asgd::consistency::synchronous{});
}
}  // namespace asgd_train
