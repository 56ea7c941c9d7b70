#pragma once
/// @file
/// Nodes as thread groups of one process, exchanging through shared memory.

#include <asgd/transport/error.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asgd::inline v0::transport {

/// The default transport: the nodes of a run are thread groups in one process and exchange
/// through shared memory. A default-constructed endpoint is a lone node; `group(n, link)` makes
/// the endpoints of n nodes that share one hub, one per node thread.
///
/// `all_reduce_mean` is a collective (every node calls it, in the same order); `exchange` is
/// point to point: a node waits only for the peers it names, and messages are matched by
/// (sender, round), so nodes may run several rounds apart. Sends never block.
///
/// The optional `link` simulates a network on one machine: a latency per message, a bandwidth
/// (a message of b bytes arrives latency + b / bandwidth after it was sent) and a straggler
/// (one node whose messages are all delayed by a further `straggler_delay`), so
/// heterogeneous-network behaviour can be studied without one. Without it, moving bytes costs
/// memcpy bandwidth, nothing like a network link, so benchmarks report bytes, not seconds.
///
/// A node waits at most `timeout` for a peer; then it throws transport_error naming the
/// operation, the round and the peer, and the hub is marked failed, so every other node's
/// wait ends at once with an error too (never a hang).
class in_process {
 public:
  using policy_kind = transport_tag;
  static constexpr std::string_view name = "in_process";

  /// A simulated network between the nodes of a group.
  struct link {
    double latency = 0.0;          ///< seconds added to every message
    double bandwidth = 0.0;        ///< bytes per second; 0 = unlimited
    std::size_t straggler = 0;     ///< the node whose messages are delayed further
    double straggler_delay = 0.0;  ///< seconds added to each of the straggler's messages (0: none)
    double timeout = 60.0;         ///< seconds a node waits for a peer before it gives up

    void validate() const {
      auto bad = [](double v) { return !(v >= 0.0 && std::isfinite(v)); };
      if (bad(latency) || bad(bandwidth) || bad(straggler_delay) || !(timeout > 0.0 && std::isfinite(timeout))) {
        std::ostringstream os;
        os << "asgd: transport::in_process::link{.latency = " << latency << ", .bandwidth = " << bandwidth
           << ", .straggler_delay = " << straggler_delay << ", .timeout = " << timeout
           << "}: times and bandwidth must be finite and >= 0, the timeout > 0";
        throw std::invalid_argument(os.str());
      }
    }
  };

  /// A lone node.
  in_process() : in_process(std::make_shared<hub>(1, link{}), 0) {}

  /// The endpoints of `nodes` nodes sharing one hub; hand endpoint k to node k's thread.
  /// @throws std::invalid_argument for 0 nodes.
  [[nodiscard]] static std::vector<in_process> group(std::size_t nodes) { return group(nodes, link{}); }

  /// The same over the simulated link `l`.
  /// @throws std::invalid_argument for 0 nodes or a bad link.
  [[nodiscard]] static std::vector<in_process> group(std::size_t nodes, const link& l) {
    if (nodes == 0) throw std::invalid_argument("asgd: transport::in_process::group needs at least one node");
    l.validate();
    auto h = std::make_shared<hub>(nodes, l);
    std::vector<in_process> out;
    out.reserve(nodes);
    for (std::size_t k = 0; k < nodes; ++k) out.push_back(in_process(h, k));
    return out;
  }

  [[nodiscard]] std::size_t node_id() const noexcept { return node_; }
  [[nodiscard]] std::size_t node_count() const noexcept { return hub_->nodes; }

  /// Replaces `v` on every node by the element-wise mean over the nodes. The last node to
  /// arrive computes the mean and writes it into every node's vector (all wait for it).
  /// @throws transport_error when the nodes' lengths differ, or a node does not arrive in time.
  void all_reduce_mean(std::span<float> v) {
    hub& h = *hub_;
    delay_own_message(v.size_bytes());
    std::unique_lock lock(h.mutex);
    h.check_failed(node_, "all_reduce_mean");
    const std::uint64_t generation = h.reduce_generation;
    h.contributions[node_] = v;
    h.joined[node_] = generation + 1;
    if (++h.arrived < h.nodes) {
      const auto deadline = std::chrono::steady_clock::now() + h.timeout();
      const bool done = h.changed.wait_until(lock, deadline, [&] {
        return h.reduce_generation != generation || !h.failure.empty();
      });
      if (h.reduce_generation != generation) return;
      h.check_failed(node_, "all_reduce_mean");
      if (!done) {
        std::string missing;
        for (std::size_t k = 0; k < h.nodes; ++k)
          if (h.joined[k] != generation + 1) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
        h.fail(node_, "all_reduce_mean", "waited " + seconds(h.settings.timeout) + " for node(s) " + missing);
      }
    }
    for (std::size_t k = 0; k < h.nodes; ++k) {
      if (h.contributions[k].size() != v.size()) {
        h.fail(node_, "all_reduce_mean",
               "node " + std::to_string(k) + " sent " + std::to_string(h.contributions[k].size()) + " floats, node " +
                   std::to_string(node_) + " " + std::to_string(v.size()));
      }
    }
    const float scale = 1.0f / static_cast<float>(h.nodes);
    for (std::size_t i = 0; i < v.size(); ++i) {
      float s = 0.0f;
      for (std::size_t k = 0; k < h.nodes; ++k) s += h.contributions[k][i];
      s *= scale;
      for (std::size_t k = 0; k < h.nodes; ++k) h.contributions[k][i] = s;
    }
    h.arrived = 0;
    ++h.reduce_generation;
    h.changed.notify_all();
  }

  /// Sends `send` to every node in `peers` and receives, from each of them, its message of
  /// the same `round` into `received[k]` (resized to peers.size()). Nodes name each other: if
  /// a lists b in a round, b lists a.
  /// @throws transport_error when a peer is out of range, or its message does not come in time.
  void exchange(std::uint64_t round, std::span<const std::size_t> peers, std::span<const std::byte> send,
                std::vector<std::vector<std::byte>>& received) {
    hub& h = *hub_;
    const auto now = std::chrono::steady_clock::now();
    const auto arrives = now + h.delay(node_, send.size());
    // Messages reuse buffers that earlier rounds delivered (a model-sized allocation per
    // message would page-fault every round), and are copied outside the hub's lock.
    std::vector<std::vector<std::byte>> outgoing(peers.size());
    {
      std::lock_guard lock(h.mutex);
      h.check_failed(node_, "exchange");
      for (std::size_t k = 0; k < peers.size(); ++k) {
        if (peers[k] >= h.nodes || peers[k] == node_) {
          h.fail(node_, "exchange", "round " + std::to_string(round) + ": peer " + std::to_string(peers[k]) +
                                        " is not another node of " + std::to_string(h.nodes));
        }
        if (!h.spare.empty()) {
          outgoing[k] = std::move(h.spare.back());
          h.spare.pop_back();
        }
      }
    }
    for (auto& bytes : outgoing) bytes.assign(send.begin(), send.end());
    {
      std::lock_guard lock(h.mutex);
      for (std::size_t k = 0; k < peers.size(); ++k)
        h.inbox[peers[k]].push_back({node_, round, arrives, std::move(outgoing[k])});
    }
    h.changed.notify_all();
    received.resize(peers.size());
    std::unique_lock lock(h.mutex);
    const auto deadline = now + h.timeout();
    for (std::size_t k = 0; k < peers.size(); ++k) {
      auto& box = h.inbox[node_];
      auto find = [&] {
        return std::find_if(box.begin(), box.end(),
                            [&](const message& m) { return m.from == peers[k] && m.round == round; });
      };
      if (!h.changed.wait_until(lock, deadline, [&] { return find() != box.end() || !h.failure.empty(); })) {
        h.fail(node_, "exchange",
               "round " + std::to_string(round) + ": no message from node " + std::to_string(peers[k]) + " within " +
                   seconds(h.settings.timeout));
      }
      const auto it = find();
      if (it == box.end()) h.check_failed(node_, "exchange");
      const auto due = it->arrives;
      std::swap(received[k], it->bytes);
      if (it->bytes.capacity() > 0) h.spare.push_back(std::move(it->bytes));  // the caller's old buffer
      box.erase(it);
      if (due > std::chrono::steady_clock::now()) {  // the simulated link has not delivered it yet
        lock.unlock();
        std::this_thread::sleep_until(due);
        lock.lock();
      }
    }
  }

  // ----- gossip: a published copy per node, read or averaged one-sided, and its pending sum

  /// Readies this node's slot for gossip: `dimension` floats of pending half-differences (the
  /// copies' size needs no setting up in shared memory). Every node calls it before its first
  /// gossip call; the trainer does.
  void open_gossip(std::size_t /*copy_bytes*/, std::size_t dimension) {
    published_slot& slot = hub_->published[node_];
    std::lock_guard lock(slot.mutex);
    if (slot.pending.size() != dimension) slot.pending.assign(dimension, 0.0f);
  }
  /// Nothing to free in shared memory.
  void close_gossip() noexcept {}

  /// Publishes this node's model: under this node's lock, `f(pending, pushes, bytes)` gets the
  /// sum of the half-differences other nodes left since they were last taken, and how many,
  /// adds them to its model and writes into `bytes` the copy to publish; the pending sum is
  /// then zeroed. Readers see the old copy or the new one, never a mix.
  template <class F>
  void publish(F&& f) {
    published_slot& slot = hub_->published[node_];
    std::lock_guard lock(slot.mutex);
    slot.scratch.clear();
    std::forward<F>(f)(std::span<float>(slot.pending), slot.pushes, slot.scratch);
    std::swap(slot.bytes, slot.scratch);
    std::fill(slot.pending.begin(), slot.pending.end(), 0.0f);
    slot.pushes = 0;
  }

  /// Adds the half-differences other nodes left for this node to `into` and zeroes them;
  /// returns how many there were.
  std::uint64_t take_pushed(std::span<float> into) {
    published_slot& slot = hub_->published[node_];
    std::lock_guard lock(slot.mutex);
    const std::uint64_t pushes = slot.pushes;
    if (pushes == 0) return 0;
    for (std::size_t i = 0; i < into.size() && i < slot.pending.size(); ++i) into[i] += slot.pending[i];
    std::fill(slot.pending.begin(), slot.pending.end(), 0.0f);
    slot.pushes = 0;
    return pushes;
  }

  /// Copies `peer`'s published copy into `out` without the peer taking part (a one-sided get);
  /// false, `out` untouched, when the peer has published nothing yet. On the simulated link the
  /// reader waits latency + bytes / bandwidth (longer for the straggler's copy).
  /// @throws transport_error when `peer` is not another node, or the group has failed.
  bool read_published(std::size_t peer, std::vector<std::byte>& out) {
    check_peer(peer, "read_published");
    published_slot& slot = hub_->published[peer];
    {
      std::lock_guard lock(slot.mutex);
      if (slot.bytes.empty()) return false;
      out.assign(slot.bytes.begin(), slot.bytes.end());
    }
    sleep_for_link(peer, out.size());
    return true;
  }

  /// Averages with `peer`'s published copy, one-sided and atomic with respect to every other
  /// access to that copy (an exclusive passive-target epoch in MPI terms): under the peer's
  /// lock, `f(copy, new_copy, half)` reads the copy and writes the copy that replaces it and a
  /// half-difference of the model's length, which is added to the peer's pending sum (taken
  /// at its next publish or take_pushed). The peer takes no part. False, nothing called, when
  /// the peer has published nothing yet. On the simulated link the lock is held for the read
  /// and the writes.
  /// @throws transport_error when `peer` is not another node, its pending sum has another
  /// length than `half`, or the group has failed.
  template <class F>
  bool average_with(std::size_t peer, F&& f) {
    check_peer(peer, "average_with");
    published_slot& slot = hub_->published[peer];
    std::lock_guard lock(slot.mutex);
    if (slot.bytes.empty()) return false;
    slot.scratch.clear();
    half_.clear();
    std::forward<F>(f)(std::span<const std::byte>(slot.bytes), slot.scratch, half_);
    if (slot.pending.empty()) slot.pending.assign(half_.size(), 0.0f);  // the peer has not opened yet
    if (slot.pending.size() != half_.size()) {
      std::lock_guard hub_lock(hub_->mutex);
      hub_->fail(node_, "average_with",
                 "node " + std::to_string(peer) + "'s model has " + std::to_string(slot.pending.size()) +
                     " floats, the half-difference " + std::to_string(half_.size()));
    }
    sleep_for_link(peer, slot.bytes.size());
    sleep_for_link(node_, slot.scratch.size() + half_.size() * sizeof(float));
    std::swap(slot.bytes, slot.scratch);
    for (std::size_t i = 0; i < half_.size(); ++i) slot.pending[i] += half_[i];
    ++slot.pushes;
    return true;
  }

  /// Marks this node as gone: every node waiting for it, now or later, gets a transport_error
  /// naming it (a node's trainer calls this when it fails, so its peers do not wait out the
  /// timeout).
  void leave(std::string_view why) noexcept {
    std::lock_guard lock(hub_->mutex);
    if (hub_->failure.empty()) hub_->failure = "node " + std::to_string(node_) + " left: " + std::string(why);
    hub_->changed.notify_all();
  }

  friend std::ostream& operator<<(std::ostream& os, const in_process& t) {
    return os << "in_process{.node = " << t.node_ << ", .nodes = " << t.node_count() << '}';
  }

 private:
  struct message {
    std::size_t from;
    std::uint64_t round;
    std::chrono::steady_clock::time_point arrives;
    std::vector<std::byte> bytes;
  };

  // One node's published copy and the pushes left for it, under its own lock, so accesses to
  // different nodes never contend.
  struct published_slot {
    std::mutex mutex;
    std::vector<std::byte> bytes;    // empty: nothing published yet (an encoded model never is)
    std::vector<std::byte> scratch;  // the next copy, written before it replaces `bytes`
    std::vector<float> pending;      // the half-differences left for the node, summed
    std::uint64_t pushes = 0;        // how many
  };

  struct hub {
    hub(std::size_t n, const link& l)
        : nodes(n), settings(l), contributions(n), joined(n, 0), inbox(n), published(n) {}
    std::size_t nodes;
    link settings;
    std::mutex mutex;
    std::condition_variable changed;
    std::string failure;  // set once, by the first node that failed or gave up
    std::vector<std::span<float>> contributions;
    std::vector<std::uint64_t> joined;  // node k's contribution is in when joined[k] == reduce_generation + 1
    std::size_t arrived = 0;
    std::uint64_t reduce_generation = 0;
    std::vector<std::deque<message>> inbox;
    // Delivered messages' buffers, for the next messages: at most one per message in flight or
    // held by a receiver, so bounded by the nodes' peers per round.
    std::vector<std::vector<std::byte>> spare;
    std::vector<published_slot> published;  // gossip: node k's copy and the pushes left for it

    [[nodiscard]] std::chrono::steady_clock::duration timeout() const {
      return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(settings.timeout));
    }
    // How long a message of `bytes` from `from` takes on the simulated link.
    [[nodiscard]] std::chrono::steady_clock::duration delay(std::size_t from, std::size_t bytes) const {
      double s = settings.latency;
      if (settings.bandwidth > 0.0) s += static_cast<double>(bytes) / settings.bandwidth;
      if (from == settings.straggler) s += settings.straggler_delay;
      return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
    }
    // Called with the mutex held.
    void check_failed(std::size_t node, std::string_view op) const {
      if (!failure.empty()) {
        throw transport_error("asgd: transport::in_process: node " + std::to_string(node) + ": " + std::string(op) +
                              ": " + failure);
      }
    }
    [[noreturn]] void fail(std::size_t node, std::string_view op, const std::string& why) {
      const std::string what =
          "asgd: transport::in_process: node " + std::to_string(node) + ": " + std::string(op) + ": " + why;
      if (failure.empty()) failure = "node " + std::to_string(node) + " gave up in " + std::string(op) + " (" + why + ")";
      changed.notify_all();
      throw transport_error(what);
    }
  };

  static std::string seconds(double s) {
    std::ostringstream os;
    os << s << " s";
    return os.str();
  }

  // The all-reduce pays its own node's share of the simulated link before joining.
  void delay_own_message(std::size_t bytes) const {
    const auto d = hub_->delay(node_, bytes);
    if (d > std::chrono::steady_clock::duration::zero()) std::this_thread::sleep_for(d);
  }

  void check_peer(std::size_t peer, std::string_view op) const {
    std::lock_guard lock(hub_->mutex);
    hub_->check_failed(node_, op);
    if (peer >= hub_->nodes || peer == node_) {
      hub_->fail(node_, op, "peer " + std::to_string(peer) + " is not another node of " + std::to_string(hub_->nodes));
    }
  }
  void sleep_for_link(std::size_t from, std::size_t bytes) const {
    const auto d = hub_->delay(from, bytes);
    if (d > std::chrono::steady_clock::duration::zero()) std::this_thread::sleep_for(d);
  }

  in_process(std::shared_ptr<hub> h, std::size_t node) : hub_(std::move(h)), node_(node) {}

  std::shared_ptr<hub> hub_;
  std::size_t node_;
  std::vector<float> half_;  // average_with: the half-difference for the peer
};

}  // namespace asgd::inline v0::transport
