#pragma once
/// @file
/// Cutting a model into contiguous ranges that follow its layout: the helper every block
/// selector shares.

#include <asgd/types.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::select {

/// Splits [0, d) into `parts` non-empty contiguous ranges of about d / parts parameters each.
/// Each cut goes to the layout boundary (the start of a named block) nearest to the ideal
/// position k * d / parts when that boundary is within half an even share of it, else to the
/// ideal position itself: ranges follow layers when that keeps them balanced, and cut inside a
/// layer when it does not. (LAP-SGD's code cuts at tensor boundaries only, which can leave a
/// process an empty or a tiny range; this cannot.)
/// @throws std::invalid_argument if `parts` is 0 or exceeds d.
[[nodiscard]] inline std::vector<param_range> split_layout(const block_layout& layout, std::size_t parts) {
  const std::size_t d = layout.empty() ? 0 : layout.back().range.end;
  if (parts == 0 || parts > d) {
    throw std::invalid_argument("asgd: cannot split " + std::to_string(d) + " parameters into " +
                                std::to_string(parts) + " non-empty blocks");
  }
  std::vector<param_range> out;
  out.reserve(parts);
  std::size_t prev = 0;
  std::size_t next_block = 0;  // first layout boundary not yet behind us
  for (std::size_t g = 1; g < parts; ++g) {
    const std::size_t ideal = g * d / parts;
    const std::size_t hi = d - (parts - g);  // leave one parameter for each later range
    std::size_t cut = ideal < prev + 1 ? prev + 1 : (ideal > hi ? hi : ideal);
    // nearest layout boundary in (prev, hi]
    while (next_block < layout.size() && layout[next_block].range.begin <= prev) ++next_block;
    std::size_t best = cut;
    std::size_t best_gap = static_cast<std::size_t>(-1);
    for (std::size_t b = next_block; b < layout.size(); ++b) {
      const std::size_t at = layout[b].range.begin;
      if (at > hi) break;
      const std::size_t gap = at > ideal ? at - ideal : ideal - at;
      if (gap < best_gap) {
        best_gap = gap;
        best = at;
      }
      if (at > ideal) break;
    }
    // Take the boundary unless it is further from the ideal than half an even share.
    if (best_gap <= d / parts / 2) cut = best;
    out.push_back({prev, cut});
    prev = cut;
  }
  out.push_back({prev, d});
  return out;
}

/// The blocks a selector chooses among: the layout's blocks when `count` is 0 and the layout
/// has more than one block, else `count` ranges from split_layout (when 0: `fallback` ranges,
/// at most one per parameter).
[[nodiscard]] inline std::vector<param_range> choose_blocks(const block_layout& layout, std::size_t count,
                                                            std::size_t fallback) {
  if (count == 0 && layout.size() > 1) {
    std::vector<param_range> out;
    out.reserve(layout.size());
    for (const auto& b : layout) out.push_back(b.range);
    return out;
  }
  const std::size_t d = layout.empty() ? 0 : layout.back().range.end;
  return split_layout(layout, count != 0 ? count : (fallback < d ? fallback : d));
}

}  // namespace asgd::inline v0::select
