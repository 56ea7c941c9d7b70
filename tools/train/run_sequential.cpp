#include "run.hpp"

namespace asgd_train {
asgd::report run_sequential(const asgd::problems::network& net, const options& o, const progress_fn& progress) {
  return with_rule(net, o, asgd::consistency::sequential{}, progress);
}
}  // namespace asgd_train
