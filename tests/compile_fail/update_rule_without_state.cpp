// A custom update rule without a state type: the error names clause 2.
// expect: asgd: the update rule lacks clause 2 of asgd::update_rule
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>

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
  asgd::trainer<tiny_problem, stateless> t{tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
