#pragma once
/// @file
/// HOGWILD!: lock-free, inconsistent reads and writes of one shared model.

#include <asgd/detail/shared_array_store.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::consistency {

/// HOGWILD! (Niu, Recht, Re, Wright; NIPS 2011). Workers read the shared model coordinate by
/// coordinate while others write it, and write each coordinate with a load and a store.
///
/// Guarantees: lock-free and wait-free steps; every float is read and written whole; no data
/// race in C++'s sense (shared accesses are relaxed atomics or assembly, see below).
/// Non-guarantees: a dense read may mix coordinates of different updates (torn view); two concurrent updates of one coordinate may
/// lose one of them; runs with more than one worker are not reproducible. Dense gradients read
/// a private copy of the model: the coordinates the worker's previous update wrote are those it
/// read and wrote then (the update stores each new value in the copy too), the others are
/// copied at the start of the step. So a full-model step passes over the shared model once, as
/// sequential SGD does. Sparse gradients read only their coordinates, in place. One worker
/// reads and writes the model in place: alone (plain accesses, as sequential SGD), or beside a
/// node's averager or a reader (racy stores; the averager's mixes wait for its next read).
///
/// On x86-64 with AVX the shared accesses are 16-byte aligned vector loads and stores, which
/// both vendors guarantee atomic (so each float is whole); elsewhere, and under
/// ThreadSanitizer, they are relaxed `std::atomic_ref<float>` operations (see
/// `detail/racy.hpp`; define ASGD_PORTABLE_RACY_ACCESS to force them).
struct hogwild {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "hogwild";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;
  static constexpr bool simulatable = true;

  using store = detail::shared_array_store<detail::write_kind::racy>;

  friend bool operator==(const hogwild&, const hogwild&) = default;
  friend std::ostream& operator<<(std::ostream& os, const hogwild&) { return os << "hogwild{}"; }
};

}  // namespace asgd::inline v0::consistency
