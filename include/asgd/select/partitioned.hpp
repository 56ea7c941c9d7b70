#pragma once
/// @file
/// PASSM: each worker owns one contiguous part of the model and updates only that part.

#include <asgd/select/split.hpp>
#include <asgd/checkpoint.hpp>
#include <asgd/types.hpp>

#include <ostream>
#include <string_view>

namespace asgd::inline v0::select {

/// PASSM's partitioned model (Kungurtsev, Chatterjee, Alistarh et al., AAAI 2021): the model is
/// cut into one contiguous part per worker, following the problem's layout where it can
/// (`split_layout`); worker w computes the gradient of part w only (partial back-propagation
/// when the problem supports it) and writes only part w. Concurrent writers never overlap.
struct partitioned {
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "partitioned";

  struct state {
    param_range own;
  };
  [[nodiscard]] state make_state(const selection_context& ctx) const {
    return {split_layout(ctx.layout, ctx.workers)[ctx.worker]};
  }
  [[nodiscard]] param_range select(state& s, const step_info& /*info*/) const noexcept { return s.own; }

  // Nothing changes after make_state.
  void save(const state& /*s*/, byte_writer& /*w*/) const {}
  void load(state& /*s*/, byte_reader& /*r*/) const {}

  friend bool operator==(const partitioned&, const partitioned&) = default;
  friend std::ostream& operator<<(std::ostream& os, const partitioned&) { return os << "partitioned{}"; }
};

}  // namespace asgd::inline v0::select
