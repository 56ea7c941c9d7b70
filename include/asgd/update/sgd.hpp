#pragma once
/// @file
/// Plain stochastic gradient descent with optional L2 weight decay.

#include <asgd/checkpoint.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <limits>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::update {

/// SGD: direction `d = g + weight_decay * x`, step `x <- x - lr * d` (PyTorch's SGD with
/// momentum 0). Stateless, so its result does not depend on which worker applies it.
struct sgd {
  using policy_kind = update_rule_tag;
  static constexpr std::string_view name = "sgd";

  float weight_decay = 0.0f;  ///< L2 coefficient, >= 0

  struct state {};
  [[nodiscard]] state make_state(std::size_t /*dimension*/) const { return {}; }

  [[nodiscard]] float direction(state& /*s*/, std::size_t /*i*/, float g, float x) const noexcept {
    return g + weight_decay * x;
  }

  void save(const state& /*s*/, byte_writer& /*w*/) const {}
  void load(state& /*s*/, byte_reader& /*r*/) const {}

  void validate() const {
    detail::require_in(weight_decay, 0.0, std::numeric_limits<float>::max(), "update::sgd", "weight_decay");
  }
  friend bool operator==(const sgd&, const sgd&) = default;
  friend std::ostream& operator<<(std::ostream& os, const sgd& u) {
    return os << "sgd{.weight_decay = " << u.weight_decay << '}';
  }
};

}  // namespace asgd::inline v0::update
