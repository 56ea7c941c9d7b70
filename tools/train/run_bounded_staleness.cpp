#include "run.hpp"

namespace asgd_train {
asgd::report run_bounded_staleness(const asgd::problems::network& net, const options& o, const progress_fn& progress) {
  return with_rule(net, o, asgd::consistency::bounded_staleness<>{.bound = o.staleness_bound}, progress);
}
}  // namespace asgd_train
