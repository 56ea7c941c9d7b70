// A custom update rule that misses its direction() member: the error names clause 4.
// expect: asgd: the update rule lacks clause 4 of asgd::update_rule
// expect: check_update_rule<.*sign_sgd
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>

struct sign_sgd {
  using policy_kind = asgd::update_rule_tag;
  struct state {};
  state make_state(std::size_t) const { return {}; }
#ifdef ASGD_COMPILE_FAIL_OK
  float direction(state&, std::size_t, float g, float) const { return g > 0 ? 1.0f : -1.0f; }
#else
  float direction(float g) const { return g > 0 ? 1.0f : -1.0f; }  // wrong signature
#endif
};

int main() {
  asgd::trainer<tiny_problem, sign_sgd> t{tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
