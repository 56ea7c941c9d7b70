#pragma once
/// @file
/// Lock-free shared model with element-wise atomic adds: no update is lost.

#include <asgd/detail/shared_array_store.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::consistency {

/// Like `hogwild`, but each coordinate is written with an atomic add (a compare-and-swap loop
/// on x86: about 78x slower than HOGWILD!'s store on a dense update here, 6-8x on sparse ones;
/// see docs/performance.md). This is the model HOGWILD!'s analysis assumes.
///
/// Guarantees: every update's every coordinate lands (no lost updates); lock-free. Non-
/// guarantees: reads are still inconsistent (a view may mix updates); the value an update's
/// weight decay sees may be older than the one it adds to.
struct atomic_add {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "atomic_add";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;
  static constexpr bool simulatable = true;

  using store = detail::shared_array_store<detail::write_kind::atomic>;

  friend bool operator==(const atomic_add&, const atomic_add&) = default;
  friend std::ostream& operator<<(std::ostream& os, const atomic_add&) { return os << "atomic_add{}"; }
};

}  // namespace asgd::inline v0::consistency
