// A trainer argument that is not a policy at all.
// expect: asgd: a trainer argument is not a policy
// expect: trainer_argument_is_not_an_asgd_policy<(std::)?vector<int>
#include <asgd/asgd.hpp>

#include <vector>

#ifdef ASGD_COMPILE_FAIL_OK
using argument = asgd::update::momentum;
#else
using argument = std::vector<int>;
#endif

int main() {
  asgd::trainer<asgd::problems::least_squares, asgd::consistency::hogwild, argument> t{
      asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
  return t.config().threads == 1 ? 0 : 1;
}
