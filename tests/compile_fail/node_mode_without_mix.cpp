// A node (a trainer whose topology averages) needs a consistency mode that can mix an average
// into its model: a mode without mix() is refused, naming the optional clause.
// expect: asgd: this consistency mode cannot be a node's
// expect: optional clause 11
#include <asgd/asgd.hpp>

// A user's mode: HOGWILD!'s store without the mix operation.
struct no_mix_mode {
  using policy_kind = asgd::consistency_mode_tag;
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 8;
  struct store : asgd::consistency::hogwild::store {
    using asgd::consistency::hogwild::store::store;
    void mix(std::span<const float>) = delete;
  };
};

#ifdef ASGD_COMPILE_FAIL_OK
using topology = asgd::topology::none;
#else
using topology = asgd::topology::ring;
#endif

int main() {
  static_assert(asgd::consistency_mode<no_mix_mode> && !asgd::consistency_mode_can_mix<no_mix_mode>);
  asgd::trainer<asgd::problems::least_squares, no_mix_mode, topology> t{
      asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
  return t.config().threads == 1 ? 0 : 1;
}
