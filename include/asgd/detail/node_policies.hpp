#pragma once
// Internal: what a node's policies are, asked of a one_of's choice too: whether its topology
// gossips, whether its quantizer keeps a reference per link. The trainer plans with these
// before it has an averager (and a trainer without a topology never includes one).

#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>

#include <type_traits>

namespace asgd::inline v0::detail {

// Whether the topology held (a one_of's choice) is event-driven gossip.
template <class Topology>
bool gossiping(const Topology& t) {
  return with_chosen(t, [](const auto& chosen) { return gossip_topology<std::decay_t<decltype(chosen)>>; });
}

// Whether the quantizer held (a one_of's choice) keeps a reference per link.
template <class Quantizer>
bool keeps_link_references(const Quantizer& q) {
  return with_chosen(q, [](const auto& chosen) { return shared_reference_quantizer<std::decay_t<decltype(chosen)>>; });
}

}  // namespace asgd::inline v0::detail
