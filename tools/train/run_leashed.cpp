#include "run.hpp"

namespace asgd_train {
asgd::report run_leashed(const run_inputs& in) {
  return with_rule(in, asgd::consistency::leashed{.persistence = in.o.persistence});
}
}  // namespace asgd_train
