// A block selector whose select() returns the wrong type: the error names clause 4.
// expect: asgd: the block selector lacks clause 4 of asgd::block_selector
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>

struct first_half {
  using policy_kind = asgd::block_selector_tag;
  struct state {
    std::size_t d;
  };
  state make_state(const asgd::selection_context& c) const { return {c.dimension}; }
#ifdef ASGD_COMPILE_FAIL_OK
  asgd::param_range select(state& s, const asgd::step_info&) const { return {0, s.d / 2}; }
#else
  std::size_t select(state& s, const asgd::step_info&) const { return s.d / 2; }
#endif
};

int main() {
  asgd::trainer<tiny_problem, first_half> t{tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
