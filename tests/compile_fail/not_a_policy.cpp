// A trainer argument that is not a policy at all.
// expect: asgd: a trainer argument is not a policy
// expect: trainer_argument_is_not_an_asgd_policy<(std::)?vector<int>
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/update/momentum.hpp>

#include <vector>

#ifdef ASGD_COMPILE_FAIL_OK
using argument = asgd::update::momentum;
#else
using argument = std::vector<int>;
#endif

int main() {
  asgd::trainer<tiny_problem, asgd::consistency::hogwild, argument> t{
      tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
