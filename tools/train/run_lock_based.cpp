// The modes that serialise or block workers. Four modes share a translation unit: what is not
// the mode's own (the MPI transport, the averager of the one_of policies, the networks) is most
// of each one's object code and is compiled once here instead of once per mode.
#include "run.hpp"

namespace asgd_train {
asgd::report run_sequential(const run_inputs& in) { return with_rule(in, asgd::consistency::sequential{}); }
asgd::report run_synchronous(const run_inputs& in) { return with_rule(in, asgd::consistency::synchronous{}); }
asgd::report run_locked(const run_inputs& in) { return with_rule(in, asgd::consistency::locked{}); }
asgd::report run_bounded_staleness(const run_inputs& in) {
  return with_rule(in, asgd::consistency::bounded_staleness<>{.bound = in.o.staleness_bound});
}
}  // namespace asgd_train
