#include "run.hpp"

namespace asgd_train {
asgd::report run_atomic_add(const run_inputs& in) {
  return with_rule(in, asgd::consistency::atomic_add{});
}
}  // namespace asgd_train
