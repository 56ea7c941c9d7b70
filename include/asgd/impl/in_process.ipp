#pragma once
// The definitions of transport::in_process's members that are not templates (ASGD_DECL: inline
// unless ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/transport/in_process.hpp>

#include <sstream>

namespace asgd::inline v0::transport {

ASGD_DECL void in_process::link::validate() const {
  auto bad = [](double v) { return !(v >= 0.0 && std::isfinite(v)); };
  if (bad(latency) || bad(bandwidth) || bad(straggler_delay) || !(timeout > 0.0 && std::isfinite(timeout))) {
    std::ostringstream os;
    os << "asgd: transport::in_process::link{.latency = " << latency << ", .bandwidth = " << bandwidth
       << ", .straggler_delay = " << straggler_delay << ", .timeout = " << timeout
       << "}: times and bandwidth must be finite and >= 0, the timeout > 0";
    throw std::invalid_argument(os.str());
  }
}

ASGD_DECL in_process::in_process() : in_process(std::make_shared<hub>(1, link{}), 0) {}

ASGD_DECL in_process::hub::hub(std::size_t n, const link& l)
    : nodes(n), settings(l), contributions(n), joined(n, 0), inbox(n), published(n), on_called(n), lost(n, 0),
      lost_why(n) {}

ASGD_DECL std::vector<in_process> in_process::group(std::size_t nodes, const link& l) {
  if (nodes == 0) throw std::invalid_argument("asgd: transport::in_process::group needs at least one node");
  l.validate();
  auto h = std::make_shared<hub>(nodes, l);
  std::vector<in_process> out;
  out.reserve(nodes);
  for (std::size_t k = 0; k < nodes; ++k) out.push_back(in_process(h, k));
  return out;
}

ASGD_DECL void in_process::call_round(std::uint64_t round) {
  hub& h = *hub_;
  std::uint64_t seen = h.called.load(std::memory_order_seq_cst);
  do {
    if (seen > round) return;  // called already, by this node or another
  } while (!h.called.compare_exchange_weak(seen, round + 1, std::memory_order_seq_cst));
  // Under the mutex, so that a callback set before this call runs, and one set after it sees
  // the count (on_round_called takes the mutex too).
  std::lock_guard lock(h.mutex);
  for (std::size_t k = 0; k < h.nodes; ++k) {
    if (k != node_ && h.on_called[k].first != nullptr) h.on_called[k].first(h.on_called[k].second);
  }
}

ASGD_DECL void in_process::on_round_called(void (*wake)(void*) noexcept, void* arg) {
  std::lock_guard lock(hub_->mutex);
  hub_->on_called[node_] = {wake, wake != nullptr ? arg : nullptr};
}

ASGD_DECL void in_process::all_reduce_mean(std::span<float> v) {
  if (cluster_all_reduce()) {  // the link's time runs from the last node's joining (hub::reduce)
    await_generation(post_mean_arriving(v, detail::clock_now() + hub_->straggler_delay(node_)), v, true);
    return;
  }
  delay_own_message(v.size_bytes());
  await_generation(post_mean_arriving(v, detail::clock_now()), v, false);
}

ASGD_DECL std::uint64_t in_process::post_mean_arriving(std::span<float> v,
                                                       std::chrono::steady_clock::time_point arrives) {
  hub& h = *hub_;
  std::lock_guard lock(h.mutex);
  h.check_failed(node_, "all_reduce_mean");
  h.check_dropped(node_, "all_reduce_mean");
  const std::uint64_t generation = h.reduce_generation;
  h.contributions[node_] = v;
  detail::charge_wrote(v.data());  // this node's task filled v: its lines are in this node's core
  h.joined[node_] = generation + 1;
  h.last_arrival = h.arrived == 0 ? arrives : std::max(h.last_arrival, arrives);
  ++h.arrived;
  h.posted.store(h.arrived, std::memory_order_relaxed);
  // The last live node to arrive computes the mean.
  if (h.arrived >= h.live()) h.reduce(node_, v.size());
  return generation;
}

ASGD_DECL void in_process::await_generation(std::uint64_t generation, std::span<float> v, bool on_link) {
  hub& h = *hub_;
  std::unique_lock lock(h.mutex);
  const auto deadline = detail::clock_now() + h.timeout();
  while (h.reduce_generation == generation) {
    const bool woken = h.changed.wait_until(lock, deadline, [&] {
      return h.reduce_generation != generation || !h.failure.empty() || h.arrived >= h.live();
    });
    if (h.reduce_generation != generation) break;
    h.check_failed(node_, "all_reduce_mean");
    if (!woken) {
      std::vector<std::size_t> absent;
      std::string missing;
      for (std::size_t k = 0; k < h.nodes; ++k) {
        if (h.joined[k] == generation + 1 || h.lost[k]) continue;
        absent.push_back(k);
        missing += (missing.empty() ? "" : ", ") + std::to_string(k);
      }
      const std::string why = "waited " + seconds(h.settings.timeout) + " for node(s) " + missing;
      if (!h.tolerate_losses) h.fail(node_, "all_reduce_mean", why);
      // A gossip group finishes without the nodes that stopped answering.
      for (std::size_t k : absent) {
        h.drop(k, "no answer in all_reduce_mean (node " + std::to_string(node_) + " " + why + ")");
      }
    }
    // Nodes dropped while the others wait (a gossip group's node that left) no longer count,
    // so a waiter may find itself the last.
    if (h.arrived >= h.live()) h.reduce(node_, v.size());
  }
  if (h.on_network) {
    detail::charge_wrote(v.data());  // the mean came in over the link, into this node's vector
  } else if (h.reducer != node_) {
    detail::charge_copy_from(v.data(), v.size());  // the mean, written from the last arriver's core
  }
  // A posted message still on the simulated link (post_mean's): the mean is ready once it is in.
  using clock = std::chrono::steady_clock;
  const auto ready = clock::time_point(clock::duration(h.ready_at.load(std::memory_order_relaxed)));
  lock.unlock();
  if (on_link && h.completed.load(std::memory_order_acquire) == generation + 1 && ready > detail::clock_now()) {
    detail::sleep_for(ready - detail::clock_now());
  }
}

ASGD_DECL void in_process::hub::reduce(std::size_t node, std::size_t length) {
  members.clear();
  for (std::size_t k = 0; k < nodes; ++k) {
    if (joined[k] != reduce_generation + 1) continue;
    if (contributions[k].size() != length) {
      fail(node, "all_reduce_mean",
           "node " + std::to_string(k) + " sent " + std::to_string(contributions[k].size()) + " floats, node " +
               std::to_string(node) + " " + std::to_string(length));
    }
    members.push_back(contributions[k].data());
  }
  mean_into(members, length);
  // A cluster's collective (a simulated cost model's link_all_reduce other than in_process) is on
  // the link from the last arrival on: its messages and every node's share of the sums, no copies.
  const auto* sim = detail::simulated();
  const double network = sim != nullptr ? sim->all_reduce_seconds(members.size(), length * sizeof(float)) : -1.0;
  on_network = network >= 0.0;
  if (!on_network) {
    // Each member's vector read and written once; another node's comes from its core first, and
    // writing the mean into it then invalidates the copy that core kept.
    for (const float* m : members) {
      detail::charge_copy_from(m, length);
      detail::charge_take_over(m, length);
    }
  }
  reducer = node;
  const auto ready = last_arrival + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        std::chrono::duration<double>(on_network ? network : 0.0));
  ready_at.store(ready.time_since_epoch().count(), std::memory_order_relaxed);
  arrived = 0;
  posted.store(0, std::memory_order_relaxed);
  ++reduce_generation;
  completed.store(reduce_generation, std::memory_order_release);
  changed.notify_all();
}

// In blocks that stay in L1: the block's sums, then the mean written back to every member, in
// loops the compiler vectorises (a loop over the nodes inside the loop over the floats, testing
// each node's membership, took about 1 ms for the MLP's 101,770 floats on 4 nodes, all under
// the hub's lock). Every float is summed in the same order as before, so the means are the same.
ASGD_DECL void in_process::mean_into(std::span<float* const> members, std::size_t n) noexcept {
  if (members.empty()) return;
  const float scale = 1.0f / static_cast<float>(members.size());
  constexpr std::size_t block = 1024;
  alignas(64) float sum[block];
  for (std::size_t b = 0; b < n; b += block) {
    const std::size_t len = std::min(block, n - b);
    const float* first = members[0] + b;
    for (std::size_t j = 0; j < len; ++j) sum[j] = 0.0f + first[j];
    for (std::size_t m = 1; m < members.size(); ++m) {
      const float* c = members[m] + b;
      for (std::size_t j = 0; j < len; ++j) sum[j] += c[j];
    }
    for (std::size_t j = 0; j < len; ++j) sum[j] *= scale;
    for (float* c : members) std::copy_n(sum, len, c + b);
  }
}

ASGD_DECL void in_process::exchange_each(std::uint64_t round, std::span<const std::size_t> peers,
                                         std::span<const std::span<const std::byte>> sends,
                                         std::vector<std::vector<std::byte>>& received) {
  if (sends.size() != peers.size()) {
    throw std::invalid_argument("asgd: in_process::exchange_each: " + std::to_string(sends.size()) +
                                " messages for " + std::to_string(peers.size()) + " peers");
  }
  hub& h = *hub_;
  const auto now = detail::clock_now();
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
  for (std::size_t k = 0; k < peers.size(); ++k) {
    detail::charge_copy(sends[k].size() / sizeof(float));  // a message's bytes, copied into its buffer
    outgoing[k].assign(sends[k].begin(), sends[k].end());
  }
  {
    std::lock_guard lock(h.mutex);
    for (std::size_t k = 0; k < peers.size(); ++k)
      h.inbox[peers[k]].push_back({node_, round, now + h.delay(node_, sends[k].size()), std::move(outgoing[k])});
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
    if (due > detail::clock_now()) {  // the simulated link has not delivered it yet
      lock.unlock();
      detail::sleep_until(due);
      lock.lock();
    }
  }
}

ASGD_DECL void in_process::exchange(std::uint64_t round, std::span<const std::size_t> peers,
                                   std::span<const std::byte> send, std::vector<std::vector<std::byte>>& received) {
  const std::vector<std::span<const std::byte>> sends(peers.size(), send);
  exchange_each(round, peers, sends, received);
}

ASGD_DECL void in_process::open_gossip(std::size_t /*copy_bytes*/) {
  std::lock_guard lock(hub_->mutex);
  hub_->tolerate_losses = true;
}

ASGD_DECL bool in_process::read_published(std::size_t peer, std::vector<std::byte>& out) {
  if (!check_peer(peer, "read_published")) return false;
  published_slot& slot = hub_->published[peer];
  {
    const auto lock = lock_copy(slot);
    if (slot.bytes.empty()) return false;
    detail::charge_copy(slot.bytes.size() / sizeof(float));
    out.assign(slot.bytes.begin(), slot.bytes.end());
  }
  sleep_for_link(peer, out.size());
  return true;
}

ASGD_DECL void in_process::leave(std::string_view why) noexcept {
  // The lock waits in virtual time in a simulated run, and throws when that run is being
  // cancelled (its nodes are ending anyway): a node's error path must not end the process.
  try {
    std::lock_guard lock(hub_->mutex);
    if (hub_->tolerate_losses) {
      if (!hub_->lost[node_]) hub_->drop(node_, "it left: " + std::string(why));
    } else if (hub_->failure.empty()) {
      hub_->failure = "node " + std::to_string(node_) + " left: " + std::string(why);
    }
    hub_->changed.notify_all();
  } catch (...) {
  }
}

ASGD_DECL void in_process::hub::check_failed(std::size_t node, std::string_view op) const {
  if (!failure.empty()) {
    throw transport_error("asgd: transport::in_process: node " + std::to_string(node) + ": " + std::string(op) +
                          ": " + failure);
  }
}

ASGD_DECL void in_process::hub::fail(std::size_t node, std::string_view op, const std::string& why) {
  const std::string what =
      "asgd: transport::in_process: node " + std::to_string(node) + ": " + std::string(op) + ": " + why;
  if (failure.empty()) failure = "node " + std::to_string(node) + " gave up in " + std::string(op) + " (" + why + ")";
  changed.notify_all();
  throw transport_error(what);
}

ASGD_DECL std::string in_process::seconds(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}

ASGD_DECL bool in_process::check_peer(std::size_t peer, std::string_view op) const {
  std::lock_guard lock(hub_->mutex);
  hub_->check_failed(node_, op);
  hub_->check_dropped(node_, op);
  if (peer >= hub_->nodes || peer == node_) {
    hub_->fail(node_, op, "peer " + std::to_string(peer) + " is not another node of " + std::to_string(hub_->nodes));
  }
  return !hub_->lost[peer];
}

ASGD_DECL void in_process::hub::drop(std::size_t node, const std::string& why) {
  lost[node] = 1;
  lost_why[node] = why;
  changed.notify_all();
}

ASGD_DECL void in_process::hub::check_dropped(std::size_t node, std::string_view op) const {
  if (lost[node]) {
    throw transport_error("asgd: transport::in_process: node " + std::to_string(node) + ": " + std::string(op) +
                          ": the other nodes dropped it (" + lost_why[node] + ")");
  }
}

ASGD_DECL std::vector<std::size_t> in_process::lost_nodes() const {
  std::lock_guard lock(hub_->mutex);
  std::vector<std::size_t> out;
  for (std::size_t k = 0; k < hub_->nodes; ++k)
    if (hub_->lost[k]) out.push_back(k);
  return out;
}

}  // namespace asgd::inline v0::transport
