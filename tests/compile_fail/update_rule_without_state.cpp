// A custom update rule without a state type: the error names clause 2.
// expect: asgd: the update rule lacks clause 2 of asgd::update_rule
#include <asgd/asgd.hpp>

struct stateless {
  using policy_kind = asgd::update_rule_tag;
#ifdef ASGD_COMPILE_FAIL_OK
  struct state {};
  state make_state(std::size_t) const { return {}; }
  float direction(state&, std::size_t, float g, float) const { return g; }
#else
  float direction(int&, std::size_t, float g, float) const { return g; }
#endif
};

int main() {
  asgd::trainer<asgd::problems::least_squares, stateless> t{asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
  return t.config().threads == 1 ? 0 : 1;
}
