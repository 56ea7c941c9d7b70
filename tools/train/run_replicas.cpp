#include "run.hpp"

namespace asgd_train {
asgd::report run_replicas(const run_inputs& in) {
  return with_rule(in, asgd::consistency::replicas{.sync_every = in.o.sync_every});
}
}  // namespace asgd_train
