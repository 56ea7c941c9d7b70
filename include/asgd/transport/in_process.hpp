#pragma once
/// @file
/// Nodes as thread groups of one process, exchanging through shared memory.

#include <asgd/detail/config.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/transport/error.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
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
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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

    ASGD_DECL void validate() const;
  };

  /// A lone node.
  ASGD_DECL in_process();

  /// The endpoints of `nodes` nodes sharing one hub; hand endpoint k to node k's thread.
  /// @throws std::invalid_argument for 0 nodes.
  [[nodiscard]] static std::vector<in_process> group(std::size_t nodes) { return group(nodes, link{}); }

  /// The same over the simulated link `l`.
  /// @throws std::invalid_argument for 0 nodes or a bad link.
  [[nodiscard]] ASGD_DECL static std::vector<in_process> group(std::size_t nodes, const link& l);

  [[nodiscard]] std::size_t node_id() const noexcept { return node_; }
  /// Whether the group drops nodes that leave or stop answering instead of failing (a gossip
  /// group, once a node opened gossip).
  [[nodiscard]] bool drops_lost_nodes() const {
    std::lock_guard lock(hub_->mutex);
    return hub_->tolerate_losses;
  }
  [[nodiscard]] std::size_t node_count() const noexcept { return hub_->nodes; }

  /// Replaces `v` on every node by the element-wise mean over the nodes. The last node to
  /// arrive computes the mean and writes it into every node's vector (all wait for it).
  /// @throws transport_error when the nodes' lengths differ, or a node does not arrive in time.
  ASGD_DECL void all_reduce_mean(std::span<float> v);

  // ----- the same all-reduce in two phases (concept asgd::split_all_reduce_transport)

  /// Joins this node's next all-reduce with `v` and returns at once; `v` must stay alive and
  /// untouched until the mean is in it. The last node to post computes the mean into every
  /// node's vector. Every node posts its all-reduces in the same order as it calls
  /// all_reduce_mean, and one at a time. It never sleeps: on a simulated link, the mean is ready
  /// when the last node's message would have arrived (its post plus its delay).
  /// @returns the ticket that mean_ready and await_mean take.
  /// @throws transport_error when the group has failed.
  std::uint64_t post_mean(std::span<float> v) {
    const auto own = cluster_all_reduce() ? hub_->straggler_delay(node_) : hub_->delay(node_, v.size_bytes());
    return post_mean_arriving(v, detail::clock_now() + own);
  }
  /// Whether the all-reduce of `ticket` is complete (its mean is in `v`). Never blocks.
  [[nodiscard]] bool mean_ready(std::uint64_t ticket) const noexcept {
    const hub& h = *hub_;
    const std::uint64_t completed = h.completed.load(std::memory_order_acquire);
    if (completed <= ticket) return false;
    // A later all-reduce completed too, so this one's messages are in; otherwise its last one's.
    return completed > ticket + 1 || h.ready_at.load(std::memory_order_relaxed) <= detail::clock_now().time_since_epoch().count();
  }
  /// Whether a node has joined the next all-reduce (this one too, once it posted).
  [[nodiscard]] bool mean_posted() const noexcept { return hub_->posted.load(std::memory_order_relaxed) > 0; }
  /// Waits until the all-reduce of `ticket`, posted with `v`, is complete (as all_reduce_mean).
  /// @throws transport_error when the lengths differ, or a node does not post in time.
  void await_mean(std::uint64_t ticket, std::span<float> v) { await_generation(ticket, v, true); }

  /// Sends `send` to every node in `peers` and receives, from each of them, its message of
  /// the same `round` into `received[k]` (resized to peers.size()). Nodes name each other: if
  /// a lists b in a round, b lists a.
  /// @throws transport_error when a peer is out of range, or its message does not come in time.
  ASGD_DECL void exchange(std::uint64_t round, std::span<const std::size_t> peers, std::span<const std::byte> send,
                          std::vector<std::vector<std::byte>>& received);

  /// `exchange` with a message of its own for each peer: `sends[k]` goes to `peers[k]`.
  /// @throws std::invalid_argument when `sends` and `peers` differ in length; transport_error
  /// as `exchange`.
  ASGD_DECL void exchange_each(std::uint64_t round, std::span<const std::size_t> peers,
                               std::span<const std::span<const std::byte>> sends,
                               std::vector<std::vector<std::byte>>& received);

  // ----- rounds that the first node due calls (non-blocking rounds, as LAP-SGD's)

  /// Announces that this node starts round `round` of its averaging. Rounds up to it count as
  /// called, and every other node's `on_round_called` callback runs, so that a node whose own
  /// workers are not yet due takes the round now: a round starts when its first node is due,
  /// not its last. Idempotent.
  ASGD_DECL void call_round(std::uint64_t round);
  /// Rounds some node has started: every round below the number returned.
  [[nodiscard]] std::uint64_t rounds_called() const noexcept {
    return hub_->called.load(std::memory_order_seq_cst);
  }
  /// Sets what another node's call_round runs for this node (`wake(arg)`, which must not block
  /// or throw; the trainer wakes its averager); `wake` null removes it. Set before this node's
  /// first wait for a round, removed before `arg` dies.
  ASGD_DECL void on_round_called(void (*wake)(void*) noexcept, void* arg);

  // ----- gossip: a published copy per node, read or averaged with one-sided

  /// Readies this node for gossip (a group that has opened gossip drops nodes that leave or stop
  /// answering instead of failing); copies need no space set up in shared memory. Every node
  /// calls it before its first gossip call; the trainer does.
  ASGD_DECL void open_gossip(std::size_t copy_bytes);
  /// Nothing to free in shared memory.
  void close_gossip() noexcept {}

  /// Publishes this node's model: under this node's lock, `f(copy, changes, bytes)` gets its
  /// published copy as other nodes' averages left it and how many averages changed it since the
  /// last publish, and writes into `bytes` the copy that replaces it. Readers see the old copy
  /// or the new one, never a mix.
  template <class F>
  void publish(F&& f) {
    published_slot& slot = hub_->published[node_];
    const auto lock = lock_copy(slot);
    slot.scratch.clear();
    std::forward<F>(f)(std::span<const std::byte>(slot.bytes), slot.changes, slot.scratch);
    std::swap(slot.bytes, slot.scratch);
    slot.changes = 0;
  }

  /// Copies `peer`'s published copy into `out` without the peer taking part (a one-sided get);
  /// false, `out` untouched, when the peer has published nothing yet. On the simulated link the
  /// reader waits latency + bytes / bandwidth (longer for the straggler's copy).
  /// @throws transport_error when `peer` is not another node, or the group has failed.
  ASGD_DECL bool read_published(std::size_t peer, std::vector<std::byte>& out);

  /// Averages with `peer`'s published copy, one-sided and atomic with respect to every other
  /// access to that copy (an exclusive passive-target epoch in MPI terms): under the peer's
  /// lock, `f(copy, new_copy)` reads the copy and writes the copy that replaces it, one change
  /// for the peer's next publish. The peer takes no part. False, nothing called, when the peer
  /// has published nothing yet. On the simulated link the lock is held for the read and the
  /// write.
  /// @throws transport_error when `peer` is not another node, or the group has failed.
  template <class F>
  bool average_with(std::size_t peer, F&& f) {
    if (!check_peer(peer, "average_with")) return false;
    published_slot& slot = hub_->published[peer];
    const auto lock = lock_copy(slot);
    if (slot.bytes.empty()) return false;
    slot.scratch.clear();
    std::forward<F>(f)(std::span<const std::byte>(slot.bytes), slot.scratch);
    sleep_for_link(peer, slot.bytes.size());
    sleep_for_link(node_, slot.scratch.size());
    std::swap(slot.bytes, slot.scratch);
    ++slot.changes;
    return true;
  }

  /// Gossip: the seconds this node waited for a published copy's lock, its own in publish() and
  /// a peer's in read_published() and average_with(), while another node's access held it
  /// (virtual seconds in a simulated run). average_with() holds the peer's copy for the read,
  /// the average and the write, both messages included, so on a slow link partners queue there.
  [[nodiscard]] double copy_wait_seconds() const noexcept { return copy_wait_seconds_; }

  /// The nodes a gossip group dropped: those that left, and those that did not arrive at a
  /// collective within the timeout (a dropped node that comes back gets a transport_error).
  [[nodiscard]] ASGD_DECL std::vector<std::size_t> lost_nodes() const;

  /// Marks this node as gone: every node waiting for it, now or later, gets a transport_error
  /// naming it (a node's trainer calls this when it fails, so its peers do not wait out the
  /// timeout). In a gossip group (once open_gossip was called) the others drop it instead and
  /// go on: gossip with it is skipped and collectives complete without it.
  ASGD_DECL void leave(std::string_view why) noexcept;

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

  // One node's published copy, under its own lock, so accesses to different nodes never
  // contend.
  struct published_slot {
    detail::mutex mutex;
    std::vector<std::byte> bytes;    // empty: nothing published yet (an encoded model never is)
    std::vector<std::byte> scratch;  // the next copy, written before it replaces `bytes`
    std::uint64_t changes = 0;       // other nodes' averages with the copy since the node published
  };

  struct hub {
    ASGD_DECL hub(std::size_t n, const link& l);
    std::size_t nodes;
    link settings;
    detail::mutex mutex{detail::mutex::unordered};  // a recording logs the slots' turns, not these
    detail::condition changed;
    std::string failure;  // set once, by the first node that failed or gave up
    std::vector<std::span<float>> contributions;
    std::vector<std::uint64_t> joined;  // node k's contribution is in when joined[k] == reduce_generation + 1
    std::size_t arrived = 0;
    std::uint64_t reduce_generation = 0;
    std::vector<float*> members;  // the all-reduce's contributions, gathered by its last arrival
    std::size_t reducer = 0;      // the node that computed the last mean
    bool on_network = false;      // and whether it was charged as a cluster's collective (no copies)
    // Mirrors for readers without the mutex: all-reduces completed (reduce_generation, released
    // after the mean is written), and the nodes that have joined the next one.
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::size_t> posted{0};
    // The simulated link: when the current all-reduce's latest message arrives, and (from the
    // last completion on) when the completed one's did, in the steady clock's ticks.
    std::chrono::steady_clock::time_point last_arrival{};
    std::atomic<std::chrono::steady_clock::rep> ready_at{0};
    std::vector<std::deque<message>> inbox;
    // Delivered messages' buffers, for the next messages: at most one per message in flight or
    // held by a receiver, so bounded by the nodes' peers per round.
    std::vector<std::vector<std::byte>> spare;
    std::vector<published_slot> published;  // gossip: node k's copy
    // Rounds called so far (call_round), and what a call runs for each node, under the mutex.
    std::atomic<std::uint64_t> called{0};
    std::vector<std::pair<void (*)(void*) noexcept, void*>> on_called;
    // Set once a node opens gossip: from then on a node that leaves or misses a collective's
    // timeout is dropped (lost), and the others finish without it.
    bool tolerate_losses = false;
    std::vector<char> lost;
    std::vector<std::string> lost_why;

    [[nodiscard]] std::chrono::steady_clock::duration timeout() const {
      return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(settings.timeout));
    }
    // How long a message of `bytes` from `from` takes on the simulated link. In a simulated run
    // (sim::simulation) the cost model's link stands for the link's latency and bandwidth.
    [[nodiscard]] std::chrono::steady_clock::duration delay(std::size_t from, std::size_t bytes) const {
      double s = settings.latency;
      if (settings.bandwidth > 0.0) s += static_cast<double>(bytes) / settings.bandwidth;
      if (const auto* sim = detail::simulated()) s = sim->link_seconds(bytes);
      if (from == settings.straggler) s += settings.straggler_delay;
      return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
    }
    // The straggler's extra delay alone (a cluster's collective charges the link from the last
    // node's joining on).
    [[nodiscard]] std::chrono::steady_clock::duration straggler_delay(std::size_t from) const {
      const double s = from == settings.straggler ? settings.straggler_delay : 0.0;
      return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
    }
    // Called with the mutex held.
    ASGD_DECL void check_failed(std::size_t node, std::string_view op) const;
    // Gossip groups: node `node` is gone (it left, or missed a collective's timeout); the others
    // go on without it. Called with the mutex held.
    ASGD_DECL void drop(std::size_t node, const std::string& why);
    ASGD_DECL void check_dropped(std::size_t node, std::string_view op) const;
    [[nodiscard]] std::size_t live() const {
      std::size_t n = 0;
      for (char l : lost) n += l ? 0 : 1;
      return n;
    }
    [[noreturn]] ASGD_DECL void fail(std::size_t node, std::string_view op, const std::string& why);
    // The all-reduce's last live node (`node`) is in: the mean into every member, the next
    // generation. Called with the mutex held.
    ASGD_DECL void reduce(std::size_t node, std::size_t length);
  };

  ASGD_DECL static std::string seconds(double s);
  // Replaces each of the `n` floats of every member's vector by their mean over the members,
  // summed in the members' order.
  ASGD_DECL static void mean_into(std::span<float* const> members, std::size_t n) noexcept;

  // Whether this simulated run's cost model charges an all-reduce as a cluster's collective
  // (sim::all_reduce_model ring or halving_doubling) instead of the in-process mean's copies.
  [[nodiscard]] static bool cluster_all_reduce() {
    const auto* sim = detail::simulated();
    return sim != nullptr && sim->all_reduce_seconds(1, 0) >= 0.0;
  }

  // The all-reduce pays its own node's share of the simulated link before joining.
  void delay_own_message(std::size_t bytes) const {
    const auto d = hub_->delay(node_, bytes);
    if (d > std::chrono::steady_clock::duration::zero()) detail::sleep_for(d);
  }

  // post_mean, with this node's message arriving at `arrives` (all_reduce_mean sleeps its delay
  // first, so its message is in when it posts).
  ASGD_DECL std::uint64_t post_mean_arriving(std::span<float> v, std::chrono::steady_clock::time_point arrives);
  // Waits for all-reduce `generation`, and with `on_link` for its last message to arrive.
  ASGD_DECL void await_generation(std::uint64_t generation, std::span<float> v, bool on_link);

  // Throws for a peer that is not another node; false when the group dropped it.
  ASGD_DECL bool check_peer(std::size_t peer, std::string_view op) const;
  void sleep_for_link(std::size_t from, std::size_t bytes) const {
    const auto d = hub_->delay(from, bytes);
    if (d > std::chrono::steady_clock::duration::zero()) detail::sleep_for(d);
  }

  in_process(std::shared_ptr<hub> h, std::size_t node) : hub_(std::move(h)), node_(node) {}

  // Takes a published copy's lock for this node's gossip call (one averager at a time), adding
  // the time it waited to copy_wait_seconds.
  [[nodiscard]] std::unique_lock<detail::mutex> lock_copy(published_slot& slot) {
    const auto asked = detail::clock_now();
    std::unique_lock lock(slot.mutex);
    copy_wait_seconds_ += std::chrono::duration<double>(detail::clock_now() - asked).count();
    return lock;
  }

  std::shared_ptr<hub> hub_;
  std::size_t node_;
  double copy_wait_seconds_ = 0.0;
};

}  // namespace asgd::inline v0::transport

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/in_process.ipp>
#endif
