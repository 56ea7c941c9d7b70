#pragma once
/// @file
/// Every step updates the whole model.

#include <asgd/checkpoint.hpp>
#include <asgd/types.hpp>

#include <ostream>
#include <string_view>

namespace asgd::inline v0::select {

/// Every step computes and updates all parameters (plain SGD, HOGWILD!, Leashed-SGD).
struct full {
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "full";

  struct state {
    param_range all;
  };
  [[nodiscard]] state make_state(const selection_context& ctx) const { return {{0, ctx.dimension}}; }
  [[nodiscard]] param_range select(state& s, const step_info& /*info*/) const noexcept { return s.all; }

  // Nothing changes after make_state.
  void save(const state& /*s*/, byte_writer& /*w*/) const {}
  void load(state& /*s*/, byte_reader& /*r*/) const {}

  friend bool operator==(const full&, const full&) = default;
  friend std::ostream& operator<<(std::ostream& os, const full&) { return os << "full{}"; }
};

}  // namespace asgd::inline v0::select
