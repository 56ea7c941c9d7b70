// A policy whose tag is not one of asgd's six kinds.
// expect: asgd: a trainer argument's `policy_kind` is not one of
// expect: trainer_argument_has_an_unknown_policy_kind<my_policy, int>
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>
#include <asgd/update/sgd.hpp>

struct my_policy {
#ifdef ASGD_COMPILE_FAIL_OK
  using policy_kind = asgd::averaging_topology_tag;
  asgd::mixing_row neighbours(std::uint64_t, std::size_t, std::size_t, std::uint64_t) const { return {}; }
#else
  using policy_kind = int;
#endif
};

int main() {
#ifdef ASGD_COMPILE_FAIL_OK
  static_assert(asgd::averaging_topology<my_policy>);
  asgd::trainer<tiny_problem, asgd::update::sgd> t{tiny_problem{}};
#else
  asgd::trainer<tiny_problem, my_policy> t{tiny_problem{}};
#endif
  return t.config().threads == 1 ? 0 : 1;
}
