#pragma once
/// @file
/// PASSM's block rule: each worker owns a set of blocks and updates one of them, at random.

#include <asgd/detail/validate.hpp>
#include <asgd/random.hpp>
#include <asgd/select/split.hpp>
#include <asgd/checkpoint.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <ostream>
#include <string_view>
#include <vector>

namespace asgd::inline v0::select {

/// PASSM (AAAI 2021): "each core c is allocated a block of variables I^c, for which it is
/// responsible to update. At each iteration the core modifies a block of variables chosen
/// randomly among I^c". The model is split into `workers * blocks_per_worker` contiguous
/// blocks (following the layout where possible); worker w owns the w-th run of
/// `blocks_per_worker` of them and each step picks one uniformly. Writers never overlap.
struct random_from_owned {
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "random_from_owned";

  std::size_t blocks_per_worker = 4;  ///< >= 1

  struct state {
    std::vector<param_range> owned;
    rng engine;
  };
  [[nodiscard]] state make_state(const selection_context& ctx) const {
    detail::require(blocks_per_worker >= 1, "select::random_from_owned", "blocks_per_worker", blocks_per_worker,
                    "must be at least 1");
    const std::size_t d = ctx.dimension;
    std::size_t per = blocks_per_worker;
    if (per * ctx.workers > d) per = d / ctx.workers;  // tiny models: at least one parameter per block
    const auto blocks = split_layout(ctx.layout, per * ctx.workers);
    std::vector<param_range> own(blocks.begin() + static_cast<std::ptrdiff_t>(ctx.worker * per),
                                 blocks.begin() + static_cast<std::ptrdiff_t>((ctx.worker + 1) * per));
    return {std::move(own), rng(ctx.seed, 0x5e1ec7 + ctx.worker)};
  }
  [[nodiscard]] param_range select(state& s, const step_info& /*info*/) const noexcept {
    return s.owned[s.engine.below(s.owned.size())];
  }

  void save(const state& s, byte_writer& w) const { save_rng(s.engine, w); }
  void load(state& s, byte_reader& r) const { load_rng(s.engine, r); }

  friend bool operator==(const random_from_owned&, const random_from_owned&) = default;
  friend std::ostream& operator<<(std::ostream& os, const random_from_owned& s) {
    return os << "random_from_owned{.blocks_per_worker = " << s.blocks_per_worker << '}';
  }
};

}  // namespace asgd::inline v0::select
