#pragma once
/// @file
/// A transport chosen at run time from a fixed set.

#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/types.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0::transport {

/// One of the transports `Ts...`, chosen at run time, e.g. `one_of<in_process, mpi>` for a
/// program that runs its nodes as threads or, under mpirun, as ranks. Every call goes to the
/// transport held.
template <communication_transport... Ts>
class one_of : public detail::policy_choice<Ts...> {
 public:
  using policy_kind = transport_tag;
  static constexpr std::string_view name = "one_of";
  using detail::policy_choice<Ts...>::policy_choice;

  [[nodiscard]] std::size_t node_id() const {
    return this->visit([](const auto& t) { return static_cast<std::size_t>(t.node_id()); });
  }
  [[nodiscard]] std::size_t node_count() const {
    return this->visit([](const auto& t) { return static_cast<std::size_t>(t.node_count()); });
  }
  void all_reduce_mean(std::span<float> v) {
    this->visit([&](auto& t) { t.all_reduce_mean(v); });
  }
  void exchange(std::uint64_t round, std::span<const std::size_t> peers, std::span<const std::byte> send,
                std::vector<std::vector<std::byte>>& received) {
    this->visit([&](auto& t) { t.exchange(round, peers, send, received); });
  }
  /// Where the transport held offers it (asgd::per_peer_exchange_transport); where it does not,
  /// throws std::invalid_argument (the trainer refuses such a run before its first step).
  void exchange_each(std::uint64_t round, std::span<const std::size_t> peers,
                     std::span<const std::span<const std::byte>> sends, std::vector<std::vector<std::byte>>& received) {
    this->visit([&](auto& t) {
      if constexpr (per_peer_exchange_transport<std::decay_t<decltype(t)>>) {
        t.exchange_each(round, peers, sends, received);
      } else {
        throw std::invalid_argument("asgd: transport::one_of: the transport held has no exchange_each "
                                    "(concept asgd::per_peer_exchange_transport)");
      }
    });
  }
  /// Whether the transport held sends each peer its own message.
  [[nodiscard]] bool exchanges_each() const {
    return this->visit([](const auto& t) { return per_peer_exchange_transport<std::decay_t<decltype(t)>>; });
  }
  // Gossip (asgd::gossip_transport), where the transport held offers it; where it does not,
  // these throw std::invalid_argument (the trainer refuses such a run before its first step).
  void open_gossip(std::size_t copy_bytes) {
    with_gossip<void>("open_gossip", [&](auto& t) { t.open_gossip(copy_bytes); });
  }
  void close_gossip() {
    with_gossip<void>("close_gossip", [&](auto& t) { t.close_gossip(); });
  }
  template <class F>
  void publish(F&& f) {
    with_gossip<void>("publish", [&](auto& t) { t.publish(std::forward<F>(f)); });
  }
  bool read_published(std::size_t peer, std::vector<std::byte>& out) {
    return with_gossip<bool>("read_published", [&](auto& t) { return static_cast<bool>(t.read_published(peer, out)); });
  }
  template <class F>
  bool average_with(std::size_t peer, F&& f) {
    return with_gossip<bool>("average_with",
                             [&](auto& t) { return static_cast<bool>(t.average_with(peer, std::forward<F>(f))); });
  }
  /// Whether the transport held offers gossip.
  [[nodiscard]] bool gossips() const {
    return this->visit([](const auto& t) { return gossip_transport<std::decay_t<decltype(t)>>; });
  }

  // The all-reduce in two phases (asgd::split_all_reduce_transport), where the transport held
  // offers it (splits_all_reduce()); the trainer asks before it posts.
  [[nodiscard]] bool splits_all_reduce() const {
    return this->visit([](const auto& t) { return split_all_reduce_transport<std::decay_t<decltype(t)>>; });
  }
  std::uint64_t post_mean(std::span<float> v) {
    return this->visit([&](auto& t) -> std::uint64_t {
      if constexpr (split_all_reduce_transport<std::decay_t<decltype(t)>>) {
        return t.post_mean(v);
      } else {
        throw std::logic_error("asgd: transport " + std::string(t.name) + " has no split-phase all-reduce");
      }
    });
  }
  [[nodiscard]] bool mean_ready(std::uint64_t ticket) const {
    return this->visit([&](const auto& t) {
      if constexpr (split_all_reduce_transport<std::decay_t<decltype(t)>>) return static_cast<bool>(t.mean_ready(ticket));
      return false;
    });
  }
  [[nodiscard]] bool mean_posted() const {
    return this->visit([](const auto& t) {
      if constexpr (split_all_reduce_transport<std::decay_t<decltype(t)>>) return static_cast<bool>(t.mean_posted());
      return false;
    });
  }
  void await_mean(std::uint64_t ticket, std::span<float> v) {
    this->visit([&](auto& t) {
      if constexpr (split_all_reduce_transport<std::decay_t<decltype(t)>>) t.await_mean(ticket, v);
    });
  }
  /// The split all-reduce's setup and end (collectives), where the transport held has them.
  void open_means(std::size_t n) {
    this->visit([&](auto& t) {
      if constexpr (requires { t.open_means(n); }) (void)t.open_means(n);
    });
  }
  void close_means() {
    this->visit([](auto& t) {
      if constexpr (requires { t.close_means(); }) t.close_means();
    });
  }

  // Rounds the first node due starts (asgd::round_calling_transport), where the transport held
  // offers it; where it does not, no round is called and every round waits for its last node.
  void call_round(std::uint64_t round) {
    this->visit([&](auto& t) {
      if constexpr (round_calling_transport<std::decay_t<decltype(t)>>) t.call_round(round);
    });
  }
  [[nodiscard]] std::uint64_t rounds_called() const {
    return this->visit([](const auto& t) -> std::uint64_t {
      if constexpr (round_calling_transport<std::decay_t<decltype(t)>>) {
        return t.rounds_called();
      } else {
        return 0;
      }
    });
  }
  void on_round_called(void (*wake)(void*) noexcept, void* arg) {
    this->visit([&](auto& t) {
      if constexpr (round_calling_transport<std::decay_t<decltype(t)>>) t.on_round_called(wake, arg);
    });
  }
  /// How often an averager polls for calls (0: the transport held wakes it, or calls none).
  [[nodiscard]] std::chrono::microseconds round_call_poll() const {
    return this->visit([](const auto& t) -> std::chrono::microseconds {
      if constexpr (requires { t.round_call_poll(); }) {
        return t.round_call_poll();
      } else {
        return std::chrono::microseconds{0};
      }
    });
  }
  /// Ends the calls, where the transport held needs it (a collective).
  void close_rounds() {
    this->visit([](auto& t) {
      if constexpr (requires { t.close_rounds(); }) t.close_rounds();
    });
  }
  /// Whether the transport held calls rounds.
  [[nodiscard]] bool calls_rounds() const {
    return this->visit([](const auto& t) { return round_calling_transport<std::decay_t<decltype(t)>>; });
  }

  /// The nodes the group dropped, where the transport held drops nodes (else none).
  [[nodiscard]] std::vector<std::size_t> lost_nodes() const {
    return this->visit([](const auto& t) -> std::vector<std::size_t> {
      if constexpr (requires { t.lost_nodes(); }) {
        return t.lost_nodes();
      } else {
        return {};
      }
    });
  }

  /// Gossip: the time spent waiting for published copies' locks, where the transport held
  /// measures it (else 0).
  [[nodiscard]] double copy_wait_seconds() const {
    return this->visit([](const auto& t) -> double {
      if constexpr (requires { t.copy_wait_seconds(); }) {
        return t.copy_wait_seconds();
      } else {
        return 0.0;
      }
    });
  }

  /// Tells the peers this node is gone, where the transport held can.
  void leave(std::string_view why) noexcept {
    this->visit([&](auto& t) {
      if constexpr (requires { t.leave(why); }) t.leave(why);
    });
  }

 private:
  template <class R, class F>
  R with_gossip(std::string_view op, F&& f) {
    return this->visit([&](auto& t) -> R {
      if constexpr (gossip_transport<std::decay_t<decltype(t)>>) {
        return f(t);
      } else {
        throw std::invalid_argument("asgd: transport::one_of: the transport held has no " + std::string(op) +
                                    " (it does not offer gossip: concept asgd::gossip_transport)");
      }
    });
  }
};

}  // namespace asgd::inline v0::transport
