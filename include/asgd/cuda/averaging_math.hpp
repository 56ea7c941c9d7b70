#pragma once
/// @file
/// What a GPU node's averager (<asgd/cuda/averager.cuh>) computes, in a form both nvcc and the
/// host compiler build: the wire format a host quantizer maps to on the device, and the
/// element-wise mixing math with its host reference. Host-only code may include this header;
/// it includes nothing from CUDA.
///
/// A round turns the node's snapshot s and its peers' decoded models p_k into the change
/// delta = (w_self s + sum_k w_k p_k) - s, which the averager adds to the live model, so the
/// workers' updates since the snapshot are kept (LAP-SGD's x <- x + avg - s).

#include <asgd/cuda/rules.hpp>  // ASGD_HOST_DEVICE
#include <asgd/detail/policy_choice.hpp>
#include <asgd/quantize/bf16.hpp>
#include <asgd/quantize/fp16.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/quantize/qsgd.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asgd::inline v0::cuda {

/// How a device model travels: the device kernels of <asgd/cuda/quantize.cuh> for the host
/// quantizers `identity`, `fp16`, `bf16` and `qsgd<8>`, in the host quantizers' byte layouts.
struct wire_format {
  enum class kind { float32, fp16, bf16, qsgd8 };
  kind format = kind::float32;
  std::size_t bucket = 0;  ///< qsgd8: coordinates per norm

  [[nodiscard]] static wire_format of(const quantize::identity&) { return {kind::float32, 0}; }
  [[nodiscard]] static wire_format of(const quantize::fp16&) { return {kind::fp16, 0}; }
  [[nodiscard]] static wire_format of(const quantize::bf16&) { return {kind::bf16, 0}; }
  [[nodiscard]] static wire_format of(const quantize::qsgd<8>& q) {
    q.validate();
    return {kind::qsgd8, q.bucket};
  }
  /// A quantizer chosen at run time; one without a device form is refused by name.
  template <class... Qs>
  [[nodiscard]] static wire_format of(const asgd::detail::policy_choice<Qs...>& choice) {
    return choice.visit([](const auto& q) -> wire_format {
      if constexpr (requires { wire_format::of(q); }) {
        return wire_format::of(q);
      } else {
        throw std::invalid_argument("asgd: cuda: the quantizer " + asgd::detail::describe(q) +
                                    " has no device form; a GPU node takes identity, fp16, bf16 or qsgd<8>");
      }
    });
  }

  /// @throws std::invalid_argument for qsgd8 with an empty bucket (a format built by hand).
  void validate() const {
    if (format == kind::qsgd8 && bucket == 0) {
      throw std::invalid_argument("asgd: cuda::wire_format: qsgd8 needs a bucket of at least 1 coordinate");
    }
  }

  /// Bytes of one encoded model of n coordinates (what the host quantizer's encode writes).
  [[nodiscard]] std::size_t bytes(std::size_t n) const noexcept {
    switch (format) {
      case kind::float32: return 4 * n;
      case kind::fp16:
      case kind::bf16: return 2 * n;
      case kind::qsgd8: break;
    }
    const std::size_t buckets = (n + bucket - 1) / bucket;
    return n + 4 * buckets;  // a byte per coordinate and a float norm per bucket
  }
  [[nodiscard]] std::string_view name() const noexcept {
    switch (format) {
      case kind::float32: return "identity";
      case kind::fp16: return "fp16";
      case kind::bf16: return "bf16";
      case kind::qsgd8: break;
    }
    return "qsgd8";
  }
};

namespace detail {
// delta[i] = (self_weight - 1) * s[i]: the snapshot's own share of the change.
struct start_delta_op {
  const float* snapshot;
  float* delta;
  float self_weight;
  ASGD_HOST_DEVICE void operator()(std::size_t i) const { delta[i] = (self_weight - 1.0f) * snapshot[i]; }
};
// delta[i] += w * p[i]: one peer's share.
struct add_peer_op {
  const float* peer;
  float* delta;
  float weight;
  ASGD_HOST_DEVICE void operator()(std::size_t i) const { delta[i] += weight * peer[i]; }
};
// delta[i] = mean[i] - s[i], in place over the mean (the all-reduce path).
struct mean_minus_snapshot_op {
  const float* snapshot;
  float* delta;
  ASGD_HOST_DEVICE void operator()(std::size_t i) const { delta[i] -= snapshot[i]; }
};
}  // namespace detail

/// The host reference of one round's mixing: `delta` <- (row.self_weight s + sum_k
/// row.peers[k].weight p_k) - s, with `peers[k]` the decoded model of row.peers[k], by the same
/// element-wise operations the device runs, in the same order.
/// @throws std::invalid_argument when a length or the peer count does not match.
inline void reference_mix_delta(const mixing_row& row, std::span<const float> snapshot,
                                std::span<const std::span<const float>> peers, std::span<float> delta) {
  if (peers.size() != row.peers.size() || delta.size() != snapshot.size()) {
    throw std::invalid_argument("asgd: cuda::reference_mix_delta: " + std::to_string(row.peers.size()) +
                                " peers in the row and " + std::to_string(peers.size()) + " models, " +
                                std::to_string(snapshot.size()) + " coordinates in the snapshot and " +
                                std::to_string(delta.size()) + " in delta");
  }
  const detail::start_delta_op start{snapshot.data(), delta.data(), row.self_weight};
  for (std::size_t i = 0; i < snapshot.size(); ++i) start(i);
  for (std::size_t k = 0; k < peers.size(); ++k) {
    if (peers[k].size() != snapshot.size()) {
      throw std::invalid_argument("asgd: cuda::reference_mix_delta: peer " + std::to_string(k) + " has " +
                                  std::to_string(peers[k].size()) + " coordinates, the snapshot " +
                                  std::to_string(snapshot.size()));
    }
    if (row.peers[k].weight == 0.0f) continue;  // a one-sided partner: sent to, not mixed in
    const detail::add_peer_op add{peers[k].data(), delta.data(), row.peers[k].weight};
    for (std::size_t i = 0; i < snapshot.size(); ++i) add(i);
  }
}

/// The minibatch steps of each GPU node and its averaging rounds.
struct node_schedule {
  std::uint64_t steps = 0;   ///< minibatches of the node, all its workers together
  std::uint64_t rounds = 0;  ///< averaging rounds (0 without averaging)
};

/// The schedule every node of a run takes: `steps` when not 0, else `epochs` passes over the
/// smallest shard of `samples` split among `nodes` (node k's shard is [k samples / nodes,
/// (k + 1) samples / nodes), so shards differ by one sample at most), and a round every
/// `average_every` steps (0: no averaging). The same on every node, so no node enters a round
/// (a collective) that the others never run.
[[nodiscard]] inline node_schedule schedule_nodes(std::size_t samples, std::size_t nodes, double epochs,
                                                  std::uint64_t steps, std::size_t batch, std::size_t average_every) {
  if (nodes == 0 || batch == 0) throw std::invalid_argument("asgd: cuda::schedule_nodes: nodes and batch must be positive");
  const std::size_t smallest_shard = samples / nodes;
  node_schedule n;
  n.steps = steps > 0 ? steps
                      : static_cast<std::uint64_t>(epochs * static_cast<double>(smallest_shard) / static_cast<double>(batch));
  n.rounds = average_every > 0 ? n.steps / average_every : 0;
  return n;
}

}  // namespace asgd::inline v0::cuda
