#include "run.hpp"

namespace asgd_train {
asgd::report run_sequential(const run_inputs& in) {
  return with_rule(in, asgd::consistency::sequential{});
}
}  // namespace asgd_train
