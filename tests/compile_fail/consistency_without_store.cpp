// A consistency mode without a store: the error names clause 4.
// expect: asgd: the consistency mode lacks clause 4 of asgd::consistency_mode
#include <asgd/asgd.hpp>

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
  asgd::trainer<asgd::problems::least_squares, my_mode> t{asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
  return t.config().threads == 1 ? 0 : 1;
}
