// A policy whose tag is not one of asgd's six kinds.
// expect: asgd: a trainer argument's `policy_kind` is not one of
// expect: trainer_argument_has_an_unknown_policy_kind<my_policy, int>
#include <asgd/asgd.hpp>

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
  asgd::trainer<asgd::problems::least_squares, asgd::update::sgd> t{asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
#else
  asgd::trainer<asgd::problems::least_squares, my_policy> t{asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
#endif
  return t.config().threads == 1 ? 0 : 1;
}
