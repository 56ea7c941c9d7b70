#pragma once
// Internal: one node's side of an averaging round, over any topology, transport and quantizer.
// The trainer decides when rounds happen and how the result reaches the model; this class
// turns a snapshot of the node's model into the round's mix of it with its peers' models.

#include <asgd/concepts.hpp>
#include <asgd/detail/node_policies.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/quantize/identity.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <type_traits>
#include <vector>

namespace asgd::inline v0::detail {

template <class Topology>
concept global_mean_topology = requires { requires Topology::global_mean; };

template <class Topology, class Transport, class Quantizer>
class averager {
 public:
  // `shard_sizes`: every node's samples. A topology that weights nodes by data size (a member
  // `data_sizes`, as federated's) and was given none gets them.
  averager(const Topology& topology, Transport& transport, const Quantizer& quantizer, std::size_t dimension,
           std::uint64_t seed, std::span<const std::size_t> shard_sizes = {})
      : topology_(topology),
        transport_(transport),
        quantizer_(quantizer),
        seed_(seed),
        node_(transport.node_id()),
        nodes_(transport.node_count()),
        decoded_(dimension),
        reference_out_(nodes_),
        reference_in_(nodes_) {
    with_chosen(topology_, [&](auto& topo) {
      if constexpr (requires { topo.data_sizes.assign(shard_sizes.begin(), shard_sizes.end()); }) {
        if (topo.data_sizes.empty()) topo.data_sizes.assign(shard_sizes.begin(), shard_sizes.end());
        // Its mean, and so the final average, weights each node by its data.
        if (topo.data_sizes.size() == nodes_) {
          double total = 0.0;
          for (double w : topo.data_sizes) total += w;
          mean_scale_ = static_cast<float>(static_cast<double>(topo.data_sizes[node_]) *
                                           static_cast<double>(nodes_) / total);
        }
      }
    });
    with_chosen(topology_, [&](const auto& topo) {
      if constexpr (gossip_topology<std::decay_t<decltype(topo)>>) {
        peers_ = topo.peers(node_, nodes_, seed_);
        published_.assign(dimension, 0.0f);
      }
    });
  }

  [[nodiscard]] std::size_t node() const noexcept { return node_; }
  [[nodiscard]] const Topology& topology() const noexcept { return topology_; }  // with this run's data sizes
  [[nodiscard]] std::size_t nodes() const noexcept { return nodes_; }
  [[nodiscard]] std::uint64_t bytes_sent() const noexcept { return bytes_sent_; }
  [[nodiscard]] std::uint64_t bits_sent() const noexcept { return bits_sent_; }
  [[nodiscard]] std::uint64_t pushes_received() const noexcept { return pushes_received_; }
  // Gossip: the time spent waiting for published copies' locks, where the transport measures it.
  [[nodiscard]] double copy_wait_seconds() const noexcept {
    if constexpr (requires { transport_.copy_wait_seconds(); }) {
      return transport_.copy_wait_seconds();
    } else {
      return 0.0;
    }
  }
  // The nodes the group dropped (a transport that drops nodes: lost_nodes()); none otherwise.
  [[nodiscard]] std::vector<std::size_t> lost_nodes() const {
    if constexpr (requires { transport_.lost_nodes(); }) {
      return transport_.lost_nodes();
    } else {
      return {};
    }
  }

  // Round `round`: `mixed` <- self_weight * snapshot + sum of peer weight * decoded peer model.
  // Every node calls it for the same rounds in the same order. A policy chosen at run time
  // (one_of) is visited here, once per round, so the round itself runs on the policy held.
  // A gossip topology's round is one event of this node (numbered by the node alone): see
  // interact_with.
  void round(std::uint64_t round, std::span<const float> snapshot, std::span<float> mixed) {
    with_chosen(topology_, [&](const auto& topo) {
      with_chosen(quantizer_, [&](const auto& quant) {
        using Q = std::decay_t<decltype(quant)>;
        if constexpr (gossip_topology<std::decay_t<decltype(topo)>>) {
          if constexpr (shared_reference_quantizer<Q>) {
            throw std::invalid_argument("asgd: quantizer " + std::string(Q::name) +
                                        " keeps a reference per link, which gossip topologies do not have");
          } else {
            interact_with(topo, quant, round, snapshot, mixed);
          }
        } else if constexpr (shared_reference_quantizer<Q>) {
          round_with_references(topo, quant, round, snapshot, mixed);
        } else {
          round_with(topo, quant, round, snapshot, mixed);
        }
      });
    });
  }

  // Whether the transport (a one_of's choice, asked at run time) may split its all-reduce.
  static constexpr bool may_split =
      split_all_reduce_transport<Transport> || requires(const Transport& t) { t.splits_all_reduce(); };

  // Rounds in two phases (settings.averaging.rounds_on_workers): "" when this node's rounds
  // are one all-reduce of the model (a global-mean topology weighting nodes equally, the
  // identity quantizer) over a transport that splits it; otherwise what stands in the way.
  [[nodiscard]] std::string why_rounds_cannot_split() const {
    bool splits = split_all_reduce_transport<Transport>;
    if constexpr (requires { transport_.splits_all_reduce(); }) splits = transport_.splits_all_reduce();
    if (!splits) return "its transport has no split-phase all-reduce (concept asgd::split_all_reduce_transport)";
    if (!equal_weight_mean()) return "its rounds are not an all-reduce of equally weighted models";
    if (!exact_messages()) return "its quantizer is not quantize::identity";
    return {};
  }

  // Whether a round is one all-reduce of the model and nothing else (a global-mean topology
  // weighting nodes equally, the identity quantizer), so round_in_place may take it.
  [[nodiscard]] bool rounds_are_one_mean() const { return equal_weight_mean() && exact_messages(); }

  // A round when rounds_are_one_mean(): `model` is replaced by the mean of all nodes' models, in
  // place, where round() would average a copy of it (one pass over the model less).
  void round_in_place(std::span<float> model) {
    transport_.all_reduce_mean(model);
    count_all_reduce(model.size_bytes());
  }
  // Phase one of a split round: `mixed` <- snapshot, posted to the all-reduce (it receives the
  // mean). Returns the ticket that round_ready and await_round take.
  std::uint64_t post_round(std::span<const float> snapshot, std::span<float> mixed) {
    if constexpr (may_split) {
      charge_copy(snapshot.size());
      std::copy(snapshot.begin(), snapshot.end(), mixed.begin());
      const std::uint64_t ticket = transport_.post_mean(mixed);
      count_all_reduce(snapshot.size_bytes());
      return ticket;
    } else {
      throw std::logic_error("asgd: post_round without a split-phase all-reduce");
    }
  }
  [[nodiscard]] bool round_ready(std::uint64_t ticket) const {
    if constexpr (may_split) {
      return transport_.mean_ready(ticket);
    } else {
      return false;
    }
  }
  // Whether a node has posted the round this node posts next (asked before this node posts).
  [[nodiscard]] bool round_posted() const {
    if constexpr (may_split) {
      return transport_.mean_posted();
    } else {
      return false;
    }
  }
  void await_round(std::uint64_t ticket, std::span<float> mixed) {
    if constexpr (may_split) {
      transport_.await_mean(ticket, mixed);
    }
  }
  // Before a run's first round and after its last mean (collectives): the transport's setup
  // of its split all-reduce for means of `n` floats, where it has one.
  void open_means(std::size_t n) {
    if constexpr (requires { transport_.open_means(n); }) (void)transport_.open_means(n);
  }
  void close_means() {
    if constexpr (requires { transport_.close_means(); }) transport_.close_means();
  }

  // Gossip, before the first step (a collective): opens the transport's gossip state, sized
  // for this quantizer's encoding of the model, and publishes the node's initial model, so
  // every interaction finds its partner's copy.
  void open_gossip(std::span<const float> model) {
    if constexpr (gossip_transport<Transport>) {
      with_chosen(quantizer_, [&](const auto& quant) {
        rng g(seed_ ^ 0x9a55e1ull, std::uint64_t{node_} << 40);
        send_.clear();
        encode(quant, model, send_, g);
        transport_.open_gossip(send_.size());
        transport_.publish([&](std::span<const std::byte>, std::uint64_t, std::vector<std::byte>& bytes) {
          bytes.assign(send_.begin(), send_.end());
        });
        decode(quant, send_, model, published_);
      });
      float published[1] = {0.0f};
      transport_.all_reduce_mean(published);  // every node's copy is out before any node's first event
    }
  }

  // Gossip, after every node's last event (the caller passed a collective that follows every
  // node's last interaction): `mixed` <- snapshot plus what partners' averages moved this node's
  // copy by; then gossip ends (a collective).
  void settle(std::span<const float> snapshot, std::span<float> mixed) {
    absorb_changes(snapshot, mixed);
    if constexpr (gossip_transport<Transport>) transport_.close_gossip();
  }

  // `mixed` <- `snapshot` plus what partners' averages moved this node's published copy by since
  // it last took that (gossip; a plain copy otherwise). The copy stays as they left it, and the
  // node keeps gossiping.
  void absorb_changes(std::span<const float> snapshot, std::span<float> mixed) {
    charge_copy(snapshot.size());
    std::copy(snapshot.begin(), snapshot.end(), mixed.begin());
    if constexpr (gossip_transport<Transport>) {
      if (gossiping(topology_)) {
        with_chosen(quantizer_, [&](const auto& quant) {
          transport_.publish(
              [&](std::span<const std::byte> copy, std::uint64_t changes, std::vector<std::byte>& bytes) {
                take_changes(quant, copy, changes, mixed);
                charge_copy(copy.size() / sizeof(float));
                bytes.assign(copy.begin(), copy.end());
              });
        });
      }
    }
  }

  // A resumed node's traffic so far (its checkpoint's counts).
  void restore_counts(std::uint64_t bytes, std::uint64_t bits, std::uint64_t pushes) noexcept {
    bytes_sent_ = bytes;
    bits_sent_ = bits;
    pushes_received_ = pushes;
  }

  // A shared-reference quantizer's link references, for a node's checkpoint (an empty array
  // for a link that has not carried a message, and for every link of other quantizers).
  template <class Writer>
  void save_references(Writer& w) const {
    for (const auto* side : {&reference_out_, &reference_in_})
      for (const std::vector<float>& r : *side) w.floats(r);
  }
  template <class Reader>
  void load_references(Reader& r) {
    for (auto* side : {&reference_out_, &reference_in_}) {
      for (std::vector<float>& ref : *side) {
        ref = r.floats("a link's reference");
        if (!ref.empty() && ref.size() != decoded_.size()) {
          r.fail("a link's reference holds " + std::to_string(ref.size()) + " values, expected " +
                 std::to_string(decoded_.size()));
        }
      }
    }
  }

  // Checks, before the first step, that every node runs the same schedule: a node with another
  // seed (another random matching), dimension, step count or round count would wait forever
  // for partners that never come. Every node learns every node's values (an all-gather built
  // from the mean: node k fills only its own slot, so slot k's mean times the node count is
  // node k's value; 16-bit chunks stay exact), and all of them refuse when the smallest and the
  // largest differ, naming both. A collective.
  void handshake(std::span<const std::pair<const char*, std::uint64_t>> values) {
    constexpr std::size_t chunks = 4;  // 16-bit pieces of a 64-bit value
    const std::size_t slot = values.size() * chunks;
    std::vector<float> all(slot * nodes_, 0.0f);
    for (std::size_t k = 0; k < values.size(); ++k)
      for (std::size_t c = 0; c < chunks; ++c)
        all[node_ * slot + k * chunks + c] = static_cast<float>((values[k].second >> (16 * c)) & 0xffffu);
    transport_.all_reduce_mean(all);
    auto value_of = [&](std::size_t node, std::size_t k) {
      std::uint64_t v = 0;
      for (std::size_t c = 0; c < chunks; ++c) {
        const double piece = std::round(static_cast<double>(all[node * slot + k * chunks + c]) * static_cast<double>(nodes_));
        v |= static_cast<std::uint64_t>(piece) << (16 * c);
      }
      return v;
    };
    for (std::size_t k = 0; k < values.size(); ++k) {
      std::size_t lo = 0, hi = 0;
      for (std::size_t n = 1; n < nodes_; ++n) {
        if (value_of(n, k) < value_of(lo, k)) lo = n;
        if (value_of(n, k) > value_of(hi, k)) hi = n;
      }
      if (value_of(lo, k) == value_of(hi, k)) continue;
      throw std::invalid_argument("asgd: node " + std::to_string(node_) + " of " + std::to_string(nodes_) +
                                  ": the nodes disagree on " + values[k].first + ": node " + std::to_string(lo) +
                                  " has " + std::to_string(value_of(lo, k)) + ", node " + std::to_string(hi) + " has " +
                                  std::to_string(value_of(hi, k)) + " (this node " +
                                  std::to_string(values[k].second) +
                                  "); every node must run the same problem size, settings and seed");
    }
  }

  // Sum over nodes of |x_i - mean|^2, leaving the mean of all nodes' models in `mean` (a
  // collective: two all-reduces, the model's and the distance's). Under a topology that weights
  // nodes by data size, the mean is the weighted one, which that topology's rounds keep.
  double consensus_distance(std::span<const float> model, std::span<float> mean) {
    charge_copy(2 * model.size());  // the scaled copy, and the distance's pass
    for (std::size_t i = 0; i < model.size(); ++i) mean[i] = mean_scale_ * model[i];
    transport_.all_reduce_mean(mean);
    double local = 0.0;
    for (std::size_t i = 0; i < model.size(); ++i) {
      const double d = static_cast<double>(model[i]) - static_cast<double>(mean[i]);
      local += d * d;
    }
    float total[1] = {static_cast<float>(local)};
    transport_.all_reduce_mean(total);
    const std::size_t members = nodes_ - lost_nodes().size();  // a gossip group's collectives leave out dropped nodes
    return static_cast<double>(total[0]) * static_cast<double>(members);
  }

 private:
  // The averager's own work, charged to its task in a simulated run (it shares the cores with
  // the workers there as here): a quantizer's coding, and each pass over the model (a copy, or
  // a read-modify-write charged as an update).
  template <class Q>
  static void encode(const Q& quant, std::span<const float> x, std::vector<std::byte>& out, rng& g) {
    charge_encode(x.size());
    quant.encode(x, out, g);
  }
  template <class Q>
  static void decode(const Q& quant, std::span<const std::byte> bytes, std::span<const float> reference,
                     std::span<float> out) {
    charge_decode(out.size());
    quant.decode(bytes, reference, out);
  }

  [[nodiscard]] bool equal_weight_mean() const {
    const bool mean = with_chosen(topology_, [](const auto& t) {
      using T = std::decay_t<decltype(t)>;
      return global_mean_topology<T> && !gossip_topology<T>;
    });
    return mean && mean_scale_ == 1.0f;
  }
  [[nodiscard]] bool exact_messages() const {
    return with_chosen(quantizer_, [](const auto& q) { return std::is_same_v<std::decay_t<decltype(q)>, quantize::identity>; });
  }
  // An all-reduce of `bytes` sends 2 (n - 1) / n of them from each node (a ring all-reduce).
  void count_all_reduce(std::size_t bytes) {
    const std::uint64_t sent = 2 * (nodes_ - 1) * bytes / nodes_;
    bytes_sent_ += sent;
    bits_sent_ += 8 * sent;
  }

  template <class T, class Q>
  void round_with(const T& topo, const Q& quant, std::uint64_t round, std::span<const float> snapshot,
                  std::span<float> mixed) {
    if constexpr (global_mean_topology<T> && std::is_same_v<Q, quantize::identity>) {
      // The mean of all models is one all-reduce; a ring all-reduce sends 2 (n - 1) / n models.
      charge_copy(snapshot.size());
      std::copy(snapshot.begin(), snapshot.end(), mixed.begin());
      transport_.all_reduce_mean(mixed);
      count_all_reduce(snapshot.size_bytes());
      return;
    }
    const mixing_row row = topo.neighbours(round, node_, nodes_, seed_);
    charge_copy(snapshot.size());
    for (std::size_t i = 0; i < snapshot.size(); ++i) mixed[i] = row.self_weight * snapshot[i];
    if (row.peers.empty()) return;
    peers_.clear();
    for (const auto& p : row.peers) peers_.push_back(p.node);
    send_.clear();
    rng g(seed_ ^ 0x9a55e0ull, (std::uint64_t{node_} << 40) ^ round);  // a stream per node and round
    encode(quant, snapshot, send_, g);
    transport_.exchange(round, peers_, send_, received_);
    bytes_sent_ += send_.size() * peers_.size();
    bits_sent_ += quant.encoded_bits(snapshot.size()) * peers_.size();
    for (std::size_t k = 0; k < row.peers.size(); ++k) {
      const float w = row.peers[k].weight;
      if (w == 0.0f) continue;  // a one-sided partner: sent to, not mixed in
      decode(quant, received_[k], snapshot, decoded_);
      charge_update(snapshot.size());
      for (std::size_t i = 0; i < snapshot.size(); ++i) mixed[i] += w * decoded_[i];
    }
  }

  // A round of a quantizer that sends differences against per-link references: to each peer p,
  // q = Q(x - out[p]) and out[p] += q; from each, in[p] += its q. Both ends of a link add the
  // same decoded q, so in[p] here is out[this node] at p. The mix is
  //   (self + sum w) x + sum_k w_k (in[k] - out[k]),
  // the plain mix self x + sum w x_k when the references are exact; with symmetric weights the
  // terms of a link cancel between its ends, so the round keeps the sum of the models exactly.
  template <class T, class Q>
  void round_with_references(const T& topo, const Q& quant, std::uint64_t round, std::span<const float> snapshot,
                             std::span<float> mixed) {
    if constexpr (!per_peer_exchange_transport<Transport>) {
      throw std::invalid_argument("asgd: quantizer " + std::string(Q::name) +
                                  " sends each peer its own message, which this transport cannot (concept "
                                  "asgd::per_peer_exchange_transport)");
    } else {
      const std::size_t d = snapshot.size();
      const mixing_row row = topo.neighbours(round, node_, nodes_, seed_);
      charge_copy(d);
      std::copy(snapshot.begin(), snapshot.end(), mixed.begin());
      if (row.peers.empty()) return;
      peers_.clear();
      sends_.resize(row.peers.size());
      difference_.resize(d);
      rng g(seed_ ^ 0x9a55e0ull, (std::uint64_t{node_} << 40) ^ round);  // a stream per node and round
      for (std::size_t k = 0; k < row.peers.size(); ++k) {
        const std::size_t p = row.peers[k].node;
        peers_.push_back(p);
        std::vector<float>& out = reference(reference_out_, p, d);
        charge_update(2 * d);  // the difference, and the reference moved by what the peer adds
        for (std::size_t i = 0; i < d; ++i) difference_[i] = snapshot[i] - out[i];
        sends_[k].clear();
        encode(quant, std::span<const float>(difference_), sends_[k], g);
        decode(quant, sends_[k], std::span<const float>(difference_), decoded_);  // what the peer will add
        for (std::size_t i = 0; i < d; ++i) out[i] += decoded_[i];
        bytes_sent_ += sends_[k].size();
      }
      bits_sent_ += quant.encoded_bits(d) * peers_.size();
      views_.assign(sends_.begin(), sends_.begin() + static_cast<std::ptrdiff_t>(peers_.size()));
      transport_.exchange_each(round, peers_, views_, received_);
      float total = row.self_weight;
      for (const auto& peer : row.peers) total += peer.weight;
      if (total != 1.0f) {
        charge_copy(d);
        for (std::size_t i = 0; i < d; ++i) mixed[i] = total * snapshot[i];
      }
      for (std::size_t k = 0; k < row.peers.size(); ++k) {
        const std::size_t p = row.peers[k].node;
        std::vector<float>& in = reference(reference_in_, p, d);
        charge_update(3 * d);  // the guess, the reference moved, the mix
        for (std::size_t i = 0; i < d; ++i) difference_[i] = snapshot[i] - in[i];  // a reference-point Q's guess
        decode(quant, received_[k], std::span<const float>(difference_), decoded_);
        for (std::size_t i = 0; i < d; ++i) in[i] += decoded_[i];
        const float w = row.peers[k].weight;
        if (w == 0.0f) continue;  // a one-sided partner: sent to, not mixed in
        const std::vector<float>& out = reference_out_[p];
        for (std::size_t i = 0; i < d; ++i) mixed[i] += w * (in[i] - out[i]);
      }
    }
  }

  // The reference for the link with `peer` (zero until its first message).
  static std::vector<float>& reference(std::vector<std::vector<float>>& references, std::size_t peer, std::size_t d) {
    std::vector<float>& r = references.at(peer);
    if (r.empty()) r.assign(d, 0.0f);
    return r;
  }

  // One gossip event, on `mixed` = the snapshot: pick a partner and average with its published
  // copy; publish the result, with what partners' averages moved this node's copy by meanwhile.
  //
  // Two-sided, the average is one atomic step on the partner's copy C (AD-PSGD's atomic
  // averaging, on the copy): this node moves by h = (x - C) / 2 towards C, and C becomes C + h.
  // The partner takes the change at its next publish: its copy as decoded then, minus the copy
  // it published (`take_changes`). So the copy is the only message, and the sum of the models is
  // kept up to the quantizer's noise on the partner's side (none for identity; SwarmSGD's
  // lattice adds an unbiased dither error below epsilon a coordinate). A copy that many nodes
  // average with at once moves with each of them (pushing against a stale copy instead
  // overshoots: k nodes would each hand the partner a half-difference against the same old
  // copy). A quantizer encodes the copies; the initiator decodes the partner's against its own
  // model, the partner against its own.
  template <class T, class Q>
  void interact_with(const T& topo, const Q& quant, std::uint64_t event, std::span<const float> snapshot,
                     std::span<float> mixed) {
    if constexpr (!gossip_transport<Transport>) {
      throw std::invalid_argument("asgd: the topology is event-driven gossip, which this transport does not "
                                  "offer (concept asgd::gossip_transport)");
    } else {
      charge_copy(snapshot.size());
      std::copy(snapshot.begin(), snapshot.end(), mixed.begin());
      forget_lost_peers();
      rng g(seed_ ^ 0x9a55e0ull, (std::uint64_t{node_} << 40) ^ event);  // a stream per node and event
      if (!peers_.empty()) {
        const std::size_t partner = topo.partner(std::span<const std::size_t>(peers_), g);
        const std::size_t d = snapshot.size();
        const std::size_t bits = quant.encoded_bits(d);
        if (topo.two_sided()) {
          const bool met = transport_.average_with(
              partner, [&](std::span<const std::byte> copy, std::vector<std::byte>& new_copy) {
                decode(quant, copy, snapshot, decoded_);
                charge_update(d);
                for (std::size_t i = 0; i < d; ++i) {
                  const float half = 0.5f * (mixed[i] - decoded_[i]);
                  mixed[i] -= half;
                  decoded_[i] += half;  // the partner's copy moves by h
                }
                encode(quant, std::span<const float>(decoded_), new_copy, g);
                bytes_sent_ += copy.size() + new_copy.size();
              });
          if (met) bits_sent_ += 2 * bits;
        } else if (transport_.read_published(partner, incoming_)) {
          decode(quant, incoming_, snapshot, decoded_);
          charge_update(d);
          for (std::size_t i = 0; i < d; ++i) mixed[i] += 0.5f * (decoded_[i] - mixed[i]);
          bytes_sent_ += incoming_.size();  // a one-sided get moves the partner's bytes for this node
          bits_sent_ += bits;
        }
      }
      transport_.publish([&](std::span<const std::byte> copy, std::uint64_t changes, std::vector<std::byte>& bytes) {
        take_changes(quant, copy, changes, mixed);
        encode(quant, std::span<const float>(mixed), bytes, g);
        if (topo.two_sided()) decode(quant, bytes, std::span<const float>(mixed), published_);  // what partners change
      });
    }
  }

  // Under this node's lock (inside publish): adds to `mixed` what `changes` averages of partners
  // moved its published copy by, the copy decoded against `mixed` minus what it published (then
  // the copy as it is now), so the pushes need no message of their own.
  template <class Q>
  void take_changes(const Q& quant, std::span<const std::byte> copy, std::uint64_t changes, std::span<float> mixed) {
    if (changes == 0 || copy.empty()) return;
    decode(quant, copy, std::span<const float>(mixed), decoded_);
    charge_update(mixed.size());
    for (std::size_t i = 0; i < mixed.size(); ++i) {
      mixed[i] += decoded_[i] - published_[i];
      published_[i] = decoded_[i];
    }
    pushes_received_ += changes;
  }

  // Gossip: a dropped peer is no longer a partner (its copy is stale and nothing it is left
  // reaches it).
  void forget_lost_peers() {
    if constexpr (requires { transport_.lost_nodes(); }) {
      const std::vector<std::size_t> lost = transport_.lost_nodes();
      if (lost.empty()) return;
      std::erase_if(peers_, [&](std::size_t k) { return std::find(lost.begin(), lost.end(), k) != lost.end(); });
    }
  }

  Topology topology_;  // a copy: the data sizes filled in are this run's
  float mean_scale_ = 1.0f;  // n w_k / sum w: the all-reduce of scaled models is the weighted mean
  Transport& transport_;
  const Quantizer& quantizer_;
  std::uint64_t seed_;
  std::size_t node_;
  std::size_t nodes_;
  std::vector<std::size_t> peers_;
  std::vector<std::byte> send_;
  std::vector<std::vector<std::byte>> received_;
  std::vector<float> decoded_;
  // A shared-reference quantizer's: per node id, the reference of the link to it and from it
  // (empty until the link's first round); the round's messages, one per peer.
  std::vector<std::vector<float>> reference_out_;
  std::vector<std::vector<float>> reference_in_;
  std::vector<std::vector<std::byte>> sends_;
  std::vector<std::span<const std::byte>> views_;
  std::vector<float> difference_;
  std::uint64_t bytes_sent_ = 0;
  std::uint64_t bits_sent_ = 0;
  // Gossip only: what this node's published copy decodes to as it published it (or last took
  // partners' changes from it), a partner's copy as read, the partners' averages taken.
  std::vector<float> published_;
  std::vector<std::byte> incoming_;
  std::uint64_t pushes_received_ = 0;
};

}  // namespace asgd::inline v0::detail
