#include "run.hpp"

namespace asgd_train {
asgd::report run_locked(const run_inputs& in) {
  return with_rule(in, asgd::consistency::locked{});
}
}  // namespace asgd_train
