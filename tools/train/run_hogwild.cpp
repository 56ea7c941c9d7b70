#include "run.hpp"

namespace asgd_train {
asgd::report run_hogwild(const run_inputs& in) {
  return with_rule(in, asgd::consistency::hogwild{});
}
}  // namespace asgd_train
