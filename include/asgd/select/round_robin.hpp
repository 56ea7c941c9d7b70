#pragma once
/// @file
/// Each worker walks through the blocks in turn, starting at its own.

#include <asgd/select/split.hpp>
#include <asgd/checkpoint.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <ostream>
#include <string_view>
#include <vector>

namespace asgd::inline v0::select {

/// Worker w's k-th step updates block (w + k) mod B: every block is visited equally often, and
/// workers stepping at the same pace touch different blocks. Blocks as in `random_block`.
struct round_robin {
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "round_robin";

  std::size_t blocks = 0;

  struct state {
    std::vector<param_range> all;
    std::size_t offset = 0;
  };
  [[nodiscard]] state make_state(const selection_context& ctx) const {
    auto all = choose_blocks(ctx.layout, blocks, ctx.workers);
    const std::size_t offset = ctx.worker % all.size();
    return {std::move(all), offset};
  }
  [[nodiscard]] param_range select(state& s, const step_info& info) const noexcept {
    return s.all[(s.offset + info.local_step) % s.all.size()];
  }

  // Nothing changes after make_state.
  void save(const state& /*s*/, byte_writer& /*w*/) const {}
  void load(state& /*s*/, byte_reader& /*r*/) const {}

  friend bool operator==(const round_robin&, const round_robin&) = default;
  friend std::ostream& operator<<(std::ostream& os, const round_robin& s) {
    return os << "round_robin{.blocks = " << s.blocks << '}';
  }
};

}  // namespace asgd::inline v0::select
