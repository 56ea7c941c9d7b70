#include "run.hpp"

namespace asgd_train {
asgd::report run_bounded_staleness(const run_inputs& in) {
  return with_rule(in, asgd::consistency::bounded_staleness<>{.bound = in.o.staleness_bound});
}
}  // namespace asgd_train
