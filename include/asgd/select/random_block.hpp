#pragma once
/// @file
/// Each step updates one block of the model chosen uniformly at random.

#include <asgd/random.hpp>
#include <asgd/select/split.hpp>
#include <asgd/checkpoint.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <ostream>
#include <string_view>
#include <vector>

namespace asgd::inline v0::select {

/// Each step picks one block uniformly among all blocks (any worker may pick any block, so
/// concurrent writers can overlap). The blocks are the problem's layout blocks (one per layer)
/// when `blocks` is 0 and it has a layout, else `blocks` contiguous ranges (0: one per worker).
struct random_block {
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "random_block";

  std::size_t blocks = 0;

  struct state {
    std::vector<param_range> all;
    rng engine;
  };
  [[nodiscard]] state make_state(const selection_context& ctx) const {
    return {choose_blocks(ctx.layout, blocks, ctx.workers), rng(ctx.seed, 0xb10c + ctx.worker)};
  }
  [[nodiscard]] param_range select(state& s, const step_info& /*info*/) const noexcept {
    return s.all[s.engine.below(s.all.size())];
  }

  void save(const state& s, byte_writer& w) const { save_rng(s.engine, w); }
  void load(state& s, byte_reader& r) const { load_rng(s.engine, r); }

  friend bool operator==(const random_block&, const random_block&) = default;
  friend std::ostream& operator<<(std::ostream& os, const random_block& s) {
    return os << "random_block{.blocks = " << s.blocks << '}';
  }
};

}  // namespace asgd::inline v0::select
