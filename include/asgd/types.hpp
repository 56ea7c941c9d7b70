#pragma once
/// @file
/// Vocabulary types shared by the policy concepts, the shipped policies and the trainer.

#include <asgd/version.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

namespace asgd::inline v0 {

/// @name Policy kind tags
/// A policy opts into its kind with `using policy_kind = asgd::<kind>_tag;`. The trainer sorts
/// its template arguments into slots by this tag, so arguments can come in any order.
/// @{
struct update_rule_tag {};
struct block_selector_tag {};
struct consistency_mode_tag {};
struct averaging_topology_tag {};
struct transport_tag {};
struct quantizer_tag {};
/// @}

/// A half-open range [begin, end) of parameter indices.
struct param_range {
  std::size_t begin = 0;
  std::size_t end = 0;

  [[nodiscard]] constexpr std::size_t size() const noexcept { return end - begin; }
  [[nodiscard]] constexpr bool empty() const noexcept { return end == begin; }
  [[nodiscard]] constexpr bool contains(std::size_t i) const noexcept { return begin <= i && i < end; }
  friend constexpr bool operator==(const param_range&, const param_range&) = default;
  friend std::ostream& operator<<(std::ostream& os, const param_range& r) {
    return os << '[' << r.begin << ", " << r.end << ')';
  }
};

/// A named, contiguous group of parameters (a layer's weights, its bias, ...).
struct named_block {
  std::string name;
  param_range range;
  friend bool operator==(const named_block&, const named_block&) = default;
};

/// How a problem lays its parameters out: contiguous named blocks in increasing order that
/// together cover [0, dimension()). Block selectors follow it when a problem provides one.
using block_layout = std::vector<named_block>;

/// What an evaluation hook reports on a model. `accuracy` is NaN where it means nothing
/// (regression problems).
struct evaluation {
  double loss = std::numeric_limits<double>::quiet_NaN();
  double accuracy = std::numeric_limits<double>::quiet_NaN();
};

/// What a consistency store reports for one gradient it was asked to apply.
struct apply_result {
  bool applied = true;          ///< false when the update was dropped (Leashed persistence bound)
  std::uint64_t staleness = 0;  ///< updates published between the read and this update
  std::uint32_t retries = 0;    ///< failed publication attempts (Leashed CAS failures)
  bool staleness_measured = true;  ///< false: `staleness` was not measured for this update (sampling)
};

/// How a store is sized when the trainer builds it.
struct store_config {
  std::size_t dimension = 0;  ///< model parameters
  std::size_t workers = 1;    ///< worker threads that will call read/apply
  std::size_t averagers = 0;  ///< averager threads that will call mix (0 or 1)
  std::size_t readers = 0;    ///< other threads that call copy_to while workers run (Leashed keeps a
                              ///< version for each, so it sizes its pool by them; the lock-free
                              ///< stores read and write plainly when one worker is all there is)
  /// Stores that pay a shared access to measure staleness measure it on every n-th update of
  /// each worker only (1: every update, as a learning rate that depends on it requires).
  std::uint64_t staleness_every = 1;
  /// Whether the averagers mix while the workers run (a non-blocking node). False: they mix only
  /// while every worker waits at a pause (a blocking node), so they write nothing beside them.
  bool mixes_while_running = true;
};

/// Counters a store keeps over its lifetime.
struct store_stats {
  std::size_t peak_live_versions = 1;  ///< most model buffers in use at once (Leashed: those allocated), else 1
  std::size_t allocated_versions = 1;  ///< model buffers ever allocated (bounded by pooling)
};

/// What a block selector is told once per worker, before the first step.
struct selection_context {
  block_layout layout;       ///< the problem's layout, or one block covering the model
  std::size_t dimension = 0;
  std::size_t worker = 0;
  std::size_t workers = 1;
  std::uint64_t seed = 0;
};

/// What a block selector is told at every step.
struct step_info {
  std::uint64_t step = 0;        ///< global minibatch index (0-based)
  double epoch = 0.0;            ///< step / minibatches per epoch
  std::uint64_t local_step = 0;  ///< this worker's step count
};

/// One row of a mixing matrix: how a node combines its model with its peers' in one averaging
/// round. The weights of a row sum to one.
struct mixing_row {
  struct peer {
    std::size_t node = 0;
    float weight = 0.0f;
  };
  float self_weight = 1.0f;
  std::vector<peer> peers;
};

}  // namespace asgd::inline v0
