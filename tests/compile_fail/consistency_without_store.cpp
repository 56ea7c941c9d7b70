// A consistency mode without a store: the error names clause 4.
// expect: asgd: the consistency mode lacks clause 4 of asgd::consistency_mode
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>
#include <asgd/consistency/hogwild.hpp>

#ifdef ASGD_COMPILE_FAIL_OK
struct my_mode : asgd::consistency::hogwild {};
#else
struct my_mode {
  using policy_kind = asgd::consistency_mode_tag;
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 8;
};
#endif

int main() {
  asgd::trainer<tiny_problem, my_mode> t{tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
