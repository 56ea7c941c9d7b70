// The modes whose workers never wait for each other (run_lock_based.cpp says why four share a
// translation unit).
#include "run.hpp"

namespace asgd_train {
asgd::report run_hogwild(const run_inputs& in) { return with_rule(in, asgd::consistency::hogwild{}); }
asgd::report run_atomic_add(const run_inputs& in) { return with_rule(in, asgd::consistency::atomic_add{}); }
asgd::report run_leashed(const run_inputs& in) {
  return with_rule(in, asgd::consistency::leashed{.persistence = in.o.persistence});
}
asgd::report run_replicas(const run_inputs& in) {
  return with_rule(in, asgd::consistency::replicas{.sync_every = in.o.sync_every});
}
}  // namespace asgd_train
