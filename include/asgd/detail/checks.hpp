#pragma once
// Internal: one messaged static_assert per concept clause, so that a type that does not model
// its concept gets an error naming the first clause it misses. The clause numbers match the
// comments in concepts.hpp and the tables in docs/.

#include <asgd/concepts.hpp>
#include <asgd/detail/slots.hpp>

namespace asgd::inline v0::detail {

template <class P>
constexpr bool check_problem() {
  if constexpr (!problem_has_dimension<P>) {
    static_assert(dependent_false<P>, "asgd: the problem lacks clause 1 of asgd::problem: `p.dimension()` returning "
                                      "the number of parameters. See docs/concepts.md#problem");
    return false;
  } else if constexpr (!problem_has_num_samples<P>) {
    static_assert(dependent_false<P>, "asgd: the problem lacks clause 2 of asgd::problem: `p.num_samples()` returning "
                                      "the number of training samples. See docs/concepts.md#problem");
    return false;
  } else if constexpr (!problem_has_gradient<P>) {
    static_assert(dependent_false<P>,
                  "asgd: the problem lacks clause 3 of asgd::problem: `p.gradient(std::span<const float> x, "
                  "asgd::batch_view batch, std::span<float> g)` returning the mean loss. See docs/concepts.md#problem");
    return false;
  } else if constexpr (!problem_is_copyable<P>) {
    static_assert(dependent_false<P>, "asgd: the problem violates clause 4 of asgd::problem: it must be copy "
                                      "constructible (each worker works on its own copy). See docs/concepts.md#problem");
    return false;
  } else {
    return true;
  }
}

template <class U>
constexpr bool check_update_rule() {
  if constexpr (!update_rule_has_state<U>) {
    static_assert(dependent_false<U>, "asgd: the update rule lacks clause 2 of asgd::update_rule: a member type "
                                      "`state` (per-worker optimizer state). See docs/policies/update.md");
    return false;
  } else if constexpr (!update_rule_makes_state<U>) {
    static_assert(dependent_false<U>, "asgd: the update rule lacks clause 3 of asgd::update_rule: `make_state(std::size_t "
                                      "dimension) const` returning `state`. See docs/policies/update.md");
    return false;
  } else if constexpr (!update_rule_has_direction<U>) {
    static_assert(dependent_false<U>, "asgd: the update rule lacks clause 4 of asgd::update_rule: `direction(state&, "
                                      "std::size_t i, float g, float x) const` returning float. See "
                                      "docs/policies/update.md");
    return false;
  } else if constexpr (!std::copy_constructible<U>) {
    static_assert(dependent_false<U>, "asgd: the update rule violates clause 5 of asgd::update_rule: it must be copy "
                                      "constructible. See docs/policies/update.md");
    return false;
  } else {
    return true;
  }
}

template <class S>
constexpr bool check_block_selector() {
  if constexpr (!block_selector_has_state<S>) {
    static_assert(dependent_false<S>, "asgd: the block selector lacks clause 2 of asgd::block_selector: a member type "
                                      "`state`. See docs/policies/select.md");
    return false;
  } else if constexpr (!block_selector_makes_state<S>) {
    static_assert(dependent_false<S>, "asgd: the block selector lacks clause 3 of asgd::block_selector: "
                                      "`make_state(const asgd::selection_context&) const` returning `state`. See "
                                      "docs/policies/select.md");
    return false;
  } else if constexpr (!block_selector_has_select<S>) {
    static_assert(dependent_false<S>, "asgd: the block selector lacks clause 4 of asgd::block_selector: "
                                      "`select(state&, const asgd::step_info&) const` returning asgd::param_range. See "
                                      "docs/policies/select.md");
    return false;
  } else if constexpr (!std::copy_constructible<S>) {
    static_assert(dependent_false<S>, "asgd: the block selector violates clause 5 of asgd::block_selector: it must be "
                                      "copy constructible. See docs/policies/select.md");
    return false;
  } else {
    return true;
  }
}

template <class M>
constexpr bool check_consistency_mode() {
  if constexpr (!consistency_mode_has_traits<M>) {
    static_assert(dependent_false<M>, "asgd: the consistency mode lacks clauses 2-3 of asgd::consistency_mode: static "
                                      "constants `lockstep` (bool) and `max_workers` (std::size_t). See "
                                      "docs/policies/consistency.md");
    return false;
  } else if constexpr (!consistency_mode_has_store<M>) {
    static_assert(dependent_false<M>, "asgd: the consistency mode lacks clause 4 of asgd::consistency_mode: a nested "
                                      "`store` constructible from (const M&, const asgd::store_config&, "
                                      "std::span<const float>) with a nested `worker` and `make_worker(std::size_t)`. "
                                      "See docs/policies/consistency.md");
    return false;
  } else if constexpr (!consistency_mode_has_read<M>) {
    static_assert(dependent_false<M>, "asgd: the consistency mode lacks clause 5 of asgd::consistency_mode: "
                                      "`store.read(worker&)` returning a handle with values() and version(). See "
                                      "docs/policies/consistency.md");
    return false;
  } else if constexpr (!consistency_mode_has_sparse_read<M>) {
    static_assert(dependent_false<M>, "asgd: the consistency mode lacks clause 6 of asgd::consistency_mode: "
                                      "`store.read_sparse(worker&)` returning a handle with reader() and version(). "
                                      "See docs/policies/consistency.md");
    return false;
  } else if constexpr (!consistency_mode_has_apply<M>) {
    static_assert(dependent_false<M>, "asgd: the consistency mode lacks clauses 7-8 of asgd::consistency_mode: "
                                      "`store.apply(worker&, handle&, param_range, span<const float>, dir, lr)` and "
                                      "`store.apply_sparse(...)` returning asgd::apply_result. See "
                                      "docs/policies/consistency.md");
    return false;
  } else if constexpr (!consistency_mode_has_lifecycle<M>) {
    static_assert(dependent_false<M>, "asgd: the consistency mode lacks clauses 9-10 of asgd::consistency_mode: "
                                      "`store.finish(worker&)`, `copy_to(std::span<float>) const`, `version() const` "
                                      "and `stats() const`. See docs/policies/consistency.md");
    return false;
  } else {
    return true;
  }
}

template <class T>
constexpr bool check_averaging_topology() {
  if constexpr (!averaging_topology_has_neighbours<T> && !averaging_topology_has_gossip<T>) {
    static_assert(dependent_false<T>, "asgd: the averaging topology lacks clause 2 of asgd::averaging_topology, "
                                      "`neighbours(round, node, nodes, seed) const` returning asgd::mixing_row, and "
                                      "clause 3, the gossip members `peers`, `partner`, `local_steps` and "
                                      "`two_sided`. See docs/policies/topology.md");
    return false;
  } else {
    return true;
  }
}

template <class T>
constexpr bool check_transport() {
  if constexpr (!transport_has_identity<T>) {
    static_assert(dependent_false<T>, "asgd: the transport lacks clause 2 of asgd::communication_transport: `node_id()` and "
                                      "`node_count()`. See docs/policies/transport.md");
    return false;
  } else if constexpr (!transport_has_collectives<T>) {
    static_assert(dependent_false<T>, "asgd: the transport lacks clauses 3-4 of asgd::communication_transport: "
                                      "`all_reduce_mean(std::span<float>)` and `exchange(peers, send, received)`. See "
                                      "docs/policies/transport.md");
    return false;
  } else {
    return true;
  }
}

template <class Q>
constexpr bool check_quantizer() {
  if constexpr (!quantizer_has_codec<Q>) {
    static_assert(dependent_false<Q>, "asgd: the quantizer lacks clauses 2-3 of asgd::quantizer: `encode(span<const "
                                      "float>, std::vector<std::byte>&, asgd::rng&) const` and `decode(span<const "
                                      "std::byte>, span<const float> reference, span<float>) const`. See "
                                      "docs/policies/quantize.md");
    return false;
  } else if constexpr (!quantizer_has_size<Q>) {
    static_assert(dependent_false<Q>, "asgd: the quantizer lacks clause 4 of asgd::quantizer: `encoded_bits(std::size_t) "
                                      "const`. See docs/policies/quantize.md");
    return false;
  } else {
    return true;
  }
}

}  // namespace asgd::inline v0::detail
