// A trainer with a topology runs the node's averager, which <asgd/averaging.hpp> holds (so that
// a trainer without a topology does not compile it). asgd's topology headers include it; a
// topology of one's own that does not is refused, naming the header.
// expect: asgd: a trainer with a topology needs #include <asgd/averaging.hpp>
#include "tiny_problem.hpp"

#include <asgd/consistency/hogwild.hpp>
#include <asgd/trainer.hpp>
#include <asgd/types.hpp>

#ifdef ASGD_COMPILE_FAIL_OK
#include <asgd/averaging.hpp>
#endif

#include <cstddef>
#include <cstdint>
#include <string_view>

// A user's topology: every node keeps its own model, as topology::none, under another name.
struct keep_own {
  using policy_kind = asgd::averaging_topology_tag;
  static constexpr std::string_view name = "keep_own";
  [[nodiscard]] asgd::mixing_row neighbours(std::uint64_t, std::size_t, std::size_t, std::uint64_t) const {
    return {1.0f, {}};
  }
};

int main() {
  asgd::trainer<tiny_problem, asgd::consistency::hogwild, keep_own> t{tiny_problem{}, {.threads = 1, .steps = 4}};
  return t.run().steps == 4 ? 0 : 1;
}
