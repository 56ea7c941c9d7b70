#pragma once
/// @file
/// Heavy-ball momentum with PyTorch's semantics (dampening 0).

#include <asgd/checkpoint.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <limits>
#include <ostream>
#include <string_view>
#include <vector>

namespace asgd::inline v0::update {

/// Momentum SGD as PyTorch's `torch.optim.SGD(momentum=mu, dampening=0)`:
/// `d = g + weight_decay * x;  m <- mu * m + d;  x <- x - lr * m`.
/// The buffer `m` starts at zero, which gives PyTorch's `m = d` on the first step. Each worker
/// owns its buffer (as in Leashed-SGD's and LAP-SGD's code). On sparse steps only the
/// coordinates in the gradient's support touch their buffer ("lazy" momentum).
struct momentum {
  using policy_kind = update_rule_tag;
  static constexpr std::string_view name = "momentum";

  float mu = 0.9f;            ///< momentum coefficient, in [0, 1)
  float weight_decay = 0.0f;  ///< L2 coefficient, >= 0

  struct state {
    std::vector<float> buffer;
  };
  [[nodiscard]] state make_state(std::size_t dimension) const { return {std::vector<float>(dimension, 0.0f)}; }

  [[nodiscard]] float direction(state& s, std::size_t i, float g, float x) const noexcept {
    float& m = s.buffer[i];
    m = mu * m + (g + weight_decay * x);
    return m;
  }

  void save(const state& s, byte_writer& w) const { w.floats(s.buffer); }
  void load(state& s, byte_reader& r) const { r.floats(s.buffer, "the momentum buffer"); }

  void validate() const {
    detail::require_in(mu, 0.0, 0.999999, "update::momentum", "mu");
    detail::require_in(weight_decay, 0.0, std::numeric_limits<float>::max(), "update::momentum", "weight_decay");
  }
  friend bool operator==(const momentum&, const momentum&) = default;
  friend std::ostream& operator<<(std::ostream& os, const momentum& u) {
    return os << "momentum{.mu = " << u.mu << ", .weight_decay = " << u.weight_decay << '}';
  }
};

}  // namespace asgd::inline v0::update
