#pragma once
/// @file
/// Nesterov momentum with PyTorch's semantics (dampening 0).

#include <asgd/checkpoint.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <limits>
#include <ostream>
#include <string_view>
#include <vector>

namespace asgd::inline v0::update {

/// Nesterov SGD as PyTorch's `torch.optim.SGD(momentum=mu, nesterov=True, dampening=0)`:
/// `d = g + weight_decay * x;  m <- mu * m + d;  x <- x - lr * (d + mu * m)`.
/// Per-worker buffer starting at zero; lazy on sparse steps, like `update::momentum`.
struct nesterov {
  using policy_kind = update_rule_tag;
  static constexpr std::string_view name = "nesterov";

  float mu = 0.9f;            ///< momentum coefficient, in [0, 1)
  float weight_decay = 0.0f;  ///< L2 coefficient, >= 0

  struct state {
    std::vector<float> buffer;
  };
  [[nodiscard]] state make_state(std::size_t dimension) const { return {std::vector<float>(dimension, 0.0f)}; }

  [[nodiscard]] float direction(state& s, std::size_t i, float g, float x) const noexcept {
    const float d = g + weight_decay * x;
    float& m = s.buffer[i];
    m = mu * m + d;
    return d + mu * m;
  }

  void save(const state& s, byte_writer& w) const { w.floats(s.buffer); }
  void load(state& s, byte_reader& r) const { r.floats(s.buffer, "the momentum buffer"); }

  void validate() const {
    detail::require_in(mu, 0.0, 0.999999, "update::nesterov", "mu");
    detail::require_in(weight_decay, 0.0, std::numeric_limits<float>::max(), "update::nesterov", "weight_decay");
  }
  friend bool operator==(const nesterov&, const nesterov&) = default;
  friend std::ostream& operator<<(std::ostream& os, const nesterov& u) {
    return os << "nesterov{.mu = " << u.mu << ", .weight_decay = " << u.weight_decay << '}';
  }
};

}  // namespace asgd::inline v0::update
