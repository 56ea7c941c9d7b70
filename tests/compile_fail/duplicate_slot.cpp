// Two update rules for one trainer: the error names the slot and both types.
// expect: asgd: two trainer arguments fill the same policy slot
// expect: policy_given_twice_for_one_slot<asgd::v0::update_rule_tag, asgd::v0::update::sgd, asgd::v0::update::momentum>
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>
#include <asgd/consistency/locked.hpp>
#include <asgd/select/full.hpp>
#include <asgd/update/momentum.hpp>
#include <asgd/update/sgd.hpp>

#ifdef ASGD_COMPILE_FAIL_OK
using second = asgd::select::full;
#else
using second = asgd::update::momentum;
#endif

int main() {
  asgd::trainer<tiny_problem, asgd::update::sgd, asgd::consistency::locked, second> t{
      tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
