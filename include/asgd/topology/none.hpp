#pragma once
/// @file
/// No averaging: a single node, or nodes that never talk.

#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::topology {

/// The default topology: every node keeps its own model (mixing row: self weight 1, no peers).
struct none {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "none";

  [[nodiscard]] mixing_row neighbours(std::uint64_t /*round*/, std::size_t /*node*/, std::size_t /*nodes*/,
                                      std::uint64_t /*seed*/) const {
    return {1.0f, {}};
  }

  friend bool operator==(const none&, const none&) = default;
  friend std::ostream& operator<<(std::ostream& os, const none&) { return os << "none{}"; }
};

}  // namespace asgd::inline v0::topology
