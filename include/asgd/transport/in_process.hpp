#pragma once
/// @file
/// Nodes as thread groups of one process, exchanging through shared memory.

#include <asgd/types.hpp>

#include <algorithm>
#include <barrier>
#include <cstddef>
#include <memory>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::transport {

/// The default transport: the nodes of a run are thread groups in one process and exchange
/// through shared memory. A default-constructed endpoint is a lone node; `group(n)` makes the
/// endpoints of n nodes that share one hub, one per node thread.
///
/// Both operations are collectives: every node of the group calls them the same number of
/// times, in the same order (each blocks until all have arrived). Moving bytes costs memcpy
/// bandwidth, nothing like a network link, so benchmarks report bytes, not seconds.
class in_process {
 public:
  using policy_kind = transport_tag;
  static constexpr std::string_view name = "in_process";

  /// A lone node.
  in_process() : in_process(std::make_shared<hub>(1), 0) {}

  /// The endpoints of `nodes` nodes sharing one hub; hand endpoint k to node k's thread.
  [[nodiscard]] static std::vector<in_process> group(std::size_t nodes) {
    if (nodes == 0) throw std::invalid_argument("asgd: transport::in_process::group needs at least one node");
    auto h = std::make_shared<hub>(nodes);
    std::vector<in_process> out;
    out.reserve(nodes);
    for (std::size_t k = 0; k < nodes; ++k) out.push_back(in_process(h, k));
    return out;
  }

  [[nodiscard]] std::size_t node_id() const noexcept { return node_; }
  [[nodiscard]] std::size_t node_count() const noexcept { return hub_->nodes; }

  /// Replaces `v` on every node by the element-wise mean over the nodes. Node k averages the
  /// k-th slice of all nodes' vectors (a reduce-scatter), then every node gathers the slices.
  /// @throws std::invalid_argument (on the caller) when the nodes' lengths differ.
  void all_reduce_mean(std::span<float> v) {
    hub& h = *hub_;
    h.vectors[node_] = v;
    h.barrier.arrive_and_wait();
    const std::size_t n = v.size();
    for (std::size_t k = 0; k < h.nodes; ++k) {
      if (h.vectors[k].size() != n) {
        h.barrier.arrive_and_drop();
        throw std::invalid_argument("asgd: transport::in_process::all_reduce_mean: node " + std::to_string(k) +
                                    " sent " + std::to_string(h.vectors[k].size()) + " floats, node " +
                                    std::to_string(node_) + " " + std::to_string(n));
      }
    }
    if (node_ == 0) h.mean.resize(n);
    h.barrier.arrive_and_wait();
    const std::size_t lo = node_ * n / h.nodes;
    const std::size_t hi = (node_ + 1) * n / h.nodes;
    const float scale = 1.0f / static_cast<float>(h.nodes);
    for (std::size_t i = lo; i < hi; ++i) {
      float s = 0.0f;
      for (std::size_t k = 0; k < h.nodes; ++k) s += h.vectors[k][i];
      h.mean[i] = s * scale;
    }
    h.barrier.arrive_and_wait();
    std::copy(h.mean.begin(), h.mean.end(), v.begin());
    h.barrier.arrive_and_wait();  // `mean` is reused by the next call
  }

  /// Sends `send` to the nodes in `peers` and receives theirs into `received` (resized to
  /// peers.size()). Nodes name each other: if a lists b, b lists a.
  void exchange(std::span<const std::size_t> peers, std::span<const std::byte> send,
                std::vector<std::vector<std::byte>>& received) {
    hub& h = *hub_;
    for (std::size_t p : peers) {
      if (p >= h.nodes) {
        throw std::invalid_argument("asgd: transport::in_process::exchange: peer " + std::to_string(p) +
                                    " out of range for " + std::to_string(h.nodes) + " nodes");
      }
    }
    h.posted[node_] = send;
    h.barrier.arrive_and_wait();
    received.resize(peers.size());
    for (std::size_t k = 0; k < peers.size(); ++k) received[k].assign(h.posted[peers[k]].begin(), h.posted[peers[k]].end());
    h.barrier.arrive_and_wait();  // every node has copied what it needs from `send`
  }

  friend std::ostream& operator<<(std::ostream& os, const in_process& t) {
    return os << "in_process{.node = " << t.node_ << ", .nodes = " << t.node_count() << '}';
  }

 private:
  struct hub {
    explicit hub(std::size_t n)
        : nodes(n), barrier(static_cast<std::ptrdiff_t>(n)), vectors(n), posted(n) {}
    std::size_t nodes;
    std::barrier<> barrier;
    std::vector<std::span<float>> vectors;
    std::vector<std::span<const std::byte>> posted;
    std::vector<float> mean;
  };

  in_process(std::shared_ptr<hub> h, std::size_t node) : hub_(std::move(h)), node_(node) {}

  std::shared_ptr<hub> hub_;
  std::size_t node_;
};

}  // namespace asgd::inline v0::transport
