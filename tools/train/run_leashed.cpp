#include "run.hpp"

namespace asgd_train {
asgd::report run_leashed(const asgd::problems::network& net, const options& o, const progress_fn& progress) {
  return with_rule(net, o, asgd::consistency::leashed{.persistence = o.persistence}, progress);
}
}  // namespace asgd_train
