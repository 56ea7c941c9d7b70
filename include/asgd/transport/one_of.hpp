#pragma once
/// @file
/// A transport chosen at run time from a fixed set.

#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
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
  /// Tells the peers this node is gone, where the transport held can.
  void leave(std::string_view why) noexcept {
    this->visit([&](auto& t) {
      if constexpr (requires { t.leave(why); }) t.leave(why);
    });
  }
};

}  // namespace asgd::inline v0::transport
