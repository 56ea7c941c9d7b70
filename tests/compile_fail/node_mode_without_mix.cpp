// A node (a trainer whose topology averages) needs a consistency mode that can mix an average
// into its model: a mode without mix() is refused, naming the optional clause.
// expect: asgd: this consistency mode cannot be a node's
// expect: optional clause 11
#include "tiny_problem.hpp"

#include <asgd/trainer.hpp>
#include <asgd/consistency/hogwild.hpp>
#include <asgd/topology/none.hpp>
#include <asgd/topology/ring.hpp>

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
  asgd::trainer<tiny_problem, no_mix_mode, topology> t{
      tiny_problem{}};
  return t.config().threads == 1 ? 0 : 1;
}
