// asgd::trainer is one node: a topology other than topology::none is refused with a pointer to
// the node trainer.
// expect: asgd: asgd::trainer trains one node and takes topology::none
#include <asgd/asgd.hpp>

struct ring {
  using policy_kind = asgd::averaging_topology_tag;
  asgd::mixing_row neighbours(std::uint64_t, std::size_t node, std::size_t nodes, std::uint64_t) const {
    return {1.0f / 3, {{(node + 1) % nodes, 1.0f / 3}, {(node + nodes - 1) % nodes, 1.0f / 3}}};
  }
};

#ifdef ASGD_COMPILE_FAIL_OK
using topology = asgd::topology::none;
#else
using topology = ring;
#endif

int main() {
  static_assert(asgd::averaging_topology<ring>);
  asgd::trainer<asgd::problems::least_squares, topology> t{asgd::problems::make_least_squares(10, 2, 0.0, 1).problem};
  return t.config().threads == 1 ? 0 : 1;
}
