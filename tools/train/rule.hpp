#pragma once
// asgd-train's update rule: heavy-ball momentum or Nesterov's, chosen at run time, so each
// consistency mode compiles one trainer instead of two.

#include <asgd/types.hpp>
#include <asgd/update/momentum.hpp>
#include <asgd/update/nesterov.hpp>

#include <cstddef>
#include <ostream>
#include <string_view>

namespace asgd_train {

/// `asgd::update::momentum` (nesterov = false) or `asgd::update::nesterov`, with their formulas:
/// m <- mu m + d, d = g + weight_decay x; the direction is m, or d + mu m. Without a branch per
/// coordinate: the direction is a m + b d, with (a, b) = (1, 0) or (mu, 1), and 1 m + 0 d is m
/// (up to the sign of a zero), so heavy-ball runs give the library rule's results. It describes
/// itself as the rule it stands for (reports, checkpoints).
struct momentum_rule {
  using policy_kind = asgd::update_rule_tag;
  static constexpr std::string_view name = "momentum";

  float mu = 0.9f;
  float weight_decay = 0.0f;
  bool nesterov = false;

  using state = asgd::update::momentum::state;
  [[nodiscard]] state make_state(std::size_t dimension) const { return as_momentum().make_state(dimension); }

  [[nodiscard]] float direction(state& s, std::size_t i, float g, float x) const noexcept {
    const float d = g + weight_decay * x;
    float& m = s.buffer[i];
    m = mu * m + d;
    return of_m() * m + of_d() * d;
  }

  // Both rules keep one buffer and checkpoint it the same way.
  void save(const state& s, asgd::byte_writer& w) const { as_momentum().save(s, w); }
  void load(state& s, asgd::byte_reader& r) const { as_momentum().load(s, r); }

  void validate() const {
    if (nesterov) {
      as_nesterov().validate();
    } else {
      as_momentum().validate();
    }
  }
  friend bool operator==(const momentum_rule&, const momentum_rule&) = default;
  friend std::ostream& operator<<(std::ostream& os, const momentum_rule& u) {
    if (u.nesterov) return os << u.as_nesterov();
    return os << u.as_momentum();
  }

 private:
  [[nodiscard]] float of_m() const noexcept { return nesterov ? mu : 1.0f; }
  [[nodiscard]] float of_d() const noexcept { return nesterov ? 1.0f : 0.0f; }
  [[nodiscard]] asgd::update::momentum as_momentum() const { return {.mu = mu, .weight_decay = weight_decay}; }
  [[nodiscard]] asgd::update::nesterov as_nesterov() const { return {.mu = mu, .weight_decay = weight_decay}; }
};

}  // namespace asgd_train
