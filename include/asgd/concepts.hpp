#pragma once
/// @file
/// One concept per policy kind, plus the problem concept. Every concept is the conjunction of
/// named clause concepts, numbered in its comment, so that a failed check can say which clause
/// a type misses (the trainer does; see detail/checks.hpp). docs/concepts.md mirrors this file.

#include <asgd/random.hpp>
#include <asgd/sparse.hpp>
#include <asgd/types.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace asgd::inline v0 {

/// Sample indices of one minibatch.
using batch_view = std::span<const std::size_t>;

namespace detail {
template <class T, class Tag>
concept has_policy_kind = requires { typename T::policy_kind; } && std::same_as<typename T::policy_kind, Tag>;

// Archetypes: the callables a store is handed, used only to check the store's signatures.
struct direction_archetype {
  float operator()(std::size_t index, float gradient, float value) const;
};
struct learning_rate_archetype {
  float operator()(std::uint64_t staleness) const;
};
}  // namespace detail

// ---------------------------------------------------------------------------------------------
/// @concept problem
/// What asgd trains: a model of `dimension()` floats and a loss over `num_samples()` samples.
///   1. `p.dimension()` converts to `std::size_t`: the number of model parameters.
///   2. `p.num_samples()` converts to `std::size_t`: the number of training samples.
///   3. `p.gradient(x, batch, g)`, with `x` a `std::span<const float>` of the model, `batch` a
///      `batch_view` and `g` a `std::span<float>` of `dimension()` floats, writes the mean
///      gradient over the batch into `g` and returns the mean loss (convertible to float).
///      `x` does not change during the call.
///   4. `P` is copy constructible: every worker thread works on its own copy, so scratch space
///      kept in members is private to a worker. Keep copies cheap (share data by pointer).
/// Optional capabilities, each detected by its own concept below: a sparse gradient, a gradient
/// restricted to a block, a layout in named blocks, an evaluation hook, each sample's class, an
/// initializer.
template <class P>
concept problem_has_dimension = requires(const P& p) {
  { p.dimension() } -> std::convertible_to<std::size_t>;
};
template <class P>
concept problem_has_num_samples = requires(const P& p) {
  { p.num_samples() } -> std::convertible_to<std::size_t>;
};
template <class P>
concept problem_has_gradient = requires(P& p, std::span<const float> x, batch_view batch, std::span<float> g) {
  { p.gradient(x, batch, g) } -> std::convertible_to<float>;
};
template <class P>
concept problem_is_copyable = std::copy_constructible<P>;

template <class P>
concept problem = problem_has_dimension<P> && problem_has_num_samples<P> && problem_has_gradient<P> &&
                  problem_is_copyable<P>;

/// Optional: `p.gradient(reader, batch, sg)` with a `model_reader` and a `sparse_gradient&`
/// adds the batch's mean gradient entries to `sg` (which arrives empty) and returns the mean
/// loss. The trainer then reads and writes only those coordinates (the HOGWILD! regime).
template <class P>
concept sparse_problem = problem<P> && requires(P& p, model_reader x, batch_view batch, sparse_gradient& g) {
  { p.gradient(x, batch, g) } -> std::convertible_to<float>;
};

/// Optional: `p.gradient(x, batch, g, r)` writes only the gradient of the parameters in range
/// `r` into `g` (`g.size() == r.size()`) and returns the mean loss. Block selectors use it for
/// partial back-propagation: a step that updates one block computes only what it needs.
template <class P>
concept block_gradient_problem =
    problem<P> && requires(P& p, std::span<const float> x, batch_view batch, std::span<float> g, param_range r) {
      { p.gradient(x, batch, g, r) } -> std::convertible_to<float>;
    };

/// Optional: `p.layout()` returns the `block_layout` of the parameters (one block per layer's
/// weights and biases, say). Block selectors follow it.
template <class P>
concept layered_problem = problem<P> && requires(const P& p) {
  { p.layout() } -> std::convertible_to<block_layout>;
};

/// Optional: `p.evaluate(x)` returns an `evaluation` (loss and accuracy on the problem's
/// held-out or training data) of model `x`.
template <class P>
concept evaluable_problem = problem<P> && requires(const P& p, std::span<const float> x) {
  { p.evaluate(x) } -> std::convertible_to<evaluation>;
};

/// Optional: `p.class_of(i)` returns sample `i`'s class index. Label-skewed shards
/// (`settings.shards`, Dirichlet) need it.
template <class P>
concept labelled_problem = problem<P> && requires(const P& p, std::size_t i) {
  { p.class_of(i) } -> std::convertible_to<std::size_t>;
};

/// Optional: `p.initialize(x, seed)` writes the initial model into `x`. Without it the model
/// starts at zero.
template <class P>
concept initializable_problem = problem<P> && requires(const P& p, std::span<float> x, std::uint64_t seed) {
  p.initialize(x, seed);
};

// ---------------------------------------------------------------------------------------------
/// @concept update_rule
/// What one step does to a coordinate, given its gradient (docs/policies/update.md).
///   1. `using policy_kind = asgd::update_rule_tag;`
///   2. `typename U::state`: the optimizer state of one worker (momentum buffer, ...). Each
///      worker owns its state, as in the papers.
///   3. `u.make_state(dimension)` returns a `U::state` for a model of that many parameters.
///   4. `u.direction(state, i, g, x)` returns, as a float, the direction `d` of coordinate `i`
///      for gradient `g` and current value `x`; the step is `x <- x - lr * d`. It may read and
///      write only the part of `state` that belongs to coordinate `i`, so that disjoint ranges
///      can be stepped by different threads. It is called once per coordinate per update.
///   5. `U` is copy constructible.
template <class U>
concept update_rule_has_tag = detail::has_policy_kind<U, update_rule_tag>;
template <class U>
concept update_rule_has_state = requires { typename U::state; };
template <class U>
concept update_rule_makes_state = requires(const U& u, std::size_t dimension) {
  { u.make_state(dimension) } -> std::same_as<typename U::state>;
};
template <class U>
concept update_rule_has_direction = requires(const U& u, typename U::state& s, std::size_t i, float g, float x) {
  { u.direction(s, i, g, x) } -> std::same_as<float>;
};
template <class U>
concept update_rule = update_rule_has_tag<U> && update_rule_has_state<U> && update_rule_makes_state<U> &&
                      update_rule_has_direction<U> && std::copy_constructible<U>;

// ---------------------------------------------------------------------------------------------
/// @concept block_selector
/// Which part of the model a step computes and updates (docs/policies/select.md).
///   1. `using policy_kind = asgd::block_selector_tag;`
///   2. `typename S::state`: one worker's selection state (its blocks, its random engine).
///   3. `s.make_state(ctx)` with a `selection_context` returns a `S::state`.
///   4. `s.select(state, info)` with a `step_info` returns the `param_range` the step updates:
///      non-empty and inside [0, dimension).
///   5. `S` is copy constructible.
template <class S>
concept block_selector_has_tag = detail::has_policy_kind<S, block_selector_tag>;
template <class S>
concept block_selector_has_state = requires { typename S::state; };
template <class S>
concept block_selector_makes_state = requires(const S& s, const selection_context& ctx) {
  { s.make_state(ctx) } -> std::same_as<typename S::state>;
};
template <class S>
concept block_selector_has_select = requires(const S& s, typename S::state& st, const step_info& info) {
  { s.select(st, info) } -> std::same_as<param_range>;
};
template <class S>
concept block_selector = block_selector_has_tag<S> && block_selector_has_state<S> && block_selector_makes_state<S> &&
                         block_selector_has_select<S> && std::copy_constructible<S>;

// ---------------------------------------------------------------------------------------------
/// @concept consistency_mode
/// How worker threads share one model (docs/policies/consistency.md). The mode is a value with
/// knobs; its nested `store` holds the shared model and implements the protocol.
///   1. `using policy_kind = asgd::consistency_mode_tag;`
///   2. `M::lockstep` is a `bool` constant: true when all workers take their steps in rounds
///      (every worker must call read/apply the same number of times).
///   3. `M::max_workers` is a `std::size_t` constant: the most worker threads the mode allows.
///   4. `typename M::store`, constructible from `(const M&, const store_config&,
///      std::span<const float> initial_model)`, with `typename M::store::worker`: one worker's
///      private part (buffers, pins), made by `store.make_worker(id)`.
///   5. `store.read(worker)` returns a handle `h` to a dense view of the model for a gradient:
///      `h.values()` is a `std::span<const float>` that does not change while `h` lives, and
///      `h.version()` the number of updates applied when it was taken.
///   6. `store.read_sparse(worker)` returns a handle `h` with `h.reader()` (a `model_reader`
///      for sparse gradients) and `h.version()`.
///   7. `store.apply(worker, h, range, g, dir, lr)` applies one update of the parameters in
///      `range` from gradient `g` (`g.size() == range.size()`): for each coordinate `i` it
///      computes `dir(i, g_i, x_i)` and sets `x_i <- x_i - lr(staleness) * dir(...)`, and
///      returns an `apply_result`. It consumes `h`.
///   8. `store.apply_sparse(worker, h, indices, g, dir, lr)`: the same for sparse entries.
///   9. `store.finish(worker)` is called once when a worker stops (normally or by an
///      exception), so no other worker waits for it.
///  10. `store.copy_to(out)` writes the current model into a `std::span<float>`;
///      `store.version()` returns the number of updates applied; `store.stats()` returns
///      `store_stats`.
template <class M>
concept consistency_mode_has_tag = detail::has_policy_kind<M, consistency_mode_tag>;
template <class M>
concept consistency_mode_has_traits = requires {
  { M::lockstep } -> std::convertible_to<bool>;
  { M::max_workers } -> std::convertible_to<std::size_t>;
};
template <class M>
concept consistency_mode_has_store =
    requires { typename M::store; typename M::store::worker; } &&
    std::constructible_from<typename M::store, const M&, const store_config&, std::span<const float>> &&
    requires(typename M::store& s, std::size_t id) {
      { s.make_worker(id) } -> std::same_as<typename M::store::worker>;
    };

namespace detail {
template <class M>
using store_t = typename M::store;
template <class M>
using worker_t = typename M::store::worker;
template <class M>
using read_handle_t = decltype(std::declval<store_t<M>&>().read(std::declval<worker_t<M>&>()));
template <class M>
using sparse_handle_t = decltype(std::declval<store_t<M>&>().read_sparse(std::declval<worker_t<M>&>()));
}  // namespace detail

template <class M>
concept consistency_mode_has_read = consistency_mode_has_store<M> && requires(detail::read_handle_t<M>& h) {
  { h.values() } -> std::convertible_to<std::span<const float>>;
  { h.version() } -> std::convertible_to<std::uint64_t>;
};
template <class M>
concept consistency_mode_has_sparse_read = consistency_mode_has_store<M> && requires(detail::sparse_handle_t<M>& h) {
  { h.reader() } -> std::convertible_to<model_reader>;
  { h.version() } -> std::convertible_to<std::uint64_t>;
};
template <class M>
concept consistency_mode_has_apply =
    consistency_mode_has_read<M> && consistency_mode_has_sparse_read<M> &&
    requires(detail::store_t<M>& s, detail::worker_t<M>& w, detail::read_handle_t<M>& h,
             detail::sparse_handle_t<M>& sh, param_range r, std::span<const float> g,
             std::span<const std::uint32_t> idx, detail::direction_archetype dir,
             detail::learning_rate_archetype lr) {
      { s.apply(w, h, r, g, dir, lr) } -> std::same_as<apply_result>;
      { s.apply_sparse(w, sh, idx, g, dir, lr) } -> std::same_as<apply_result>;
    };
template <class M>
concept consistency_mode_has_lifecycle =
    consistency_mode_has_store<M> &&
    requires(detail::store_t<M>& s, const detail::store_t<M>& cs, detail::worker_t<M>& w, std::span<float> out) {
      s.finish(w);
      cs.copy_to(out);
      { cs.version() } -> std::convertible_to<std::uint64_t>;
      { cs.stats() } -> std::same_as<store_stats>;
    };
/// Optional, required of a node's mode (a trainer whose topology averages): `M::concurrent_mix`
/// is a `bool` constant, and `store.mix(delta)` adds the `std::span<const float>` `delta` to the
/// model in place (an averaging round's `x += avg - snapshot`): while workers run when
/// `concurrent_mix` is true, else only while they wait (blocking averaging). A store may also
/// have `store.assign(values)`, replacing the model: where it does, rounds that run while no
/// worker writes (blocking ones, those after the last step, the final average) assign the average.
template <class M>
concept consistency_mode_can_mix =
    consistency_mode_has_store<M> && requires(detail::store_t<M>& s, std::span<const float> delta) {
      { M::concurrent_mix } -> std::convertible_to<bool>;
      s.mix(delta);
    };

/// Optional, required by `trainer::simulate`: `M::simulatable` is a `bool` constant, true when
/// the store waits only through asgd's primitives (`detail::mutex`, `detail::barrier`,
/// `detail::wait_for_change`: an OS wait would stop a simulated run) and charges what its work
/// costs (`detail::charge_copy`, `charge_update`, `charge_atomic`: else it takes no virtual time).
template <class M>
concept consistency_mode_can_be_simulated = requires {
  { M::simulatable } -> std::convertible_to<bool>;
} && M::simulatable;

/// Optional, required by `trainer::record` and `trainer::replay`: `m.replayable()` is true when
/// a run of this mode (with these knobs) replays bit for bit from a sim::recording: its workers
/// share the model only through the values the recording logs (a step claimed, a landing, a
/// `detail::mutex`'s turn, a version of `detail::version_chain` pinned or published), never by
/// racing on its floats. The mode must be simulatable too.
template <class M>
concept consistency_mode_can_be_replayed = consistency_mode_can_be_simulated<M> && requires(const M& m) {
  { m.replayable() } -> std::convertible_to<bool>;
};

template <class M>
concept consistency_mode = consistency_mode_has_tag<M> && consistency_mode_has_traits<M> &&
                           consistency_mode_has_store<M> && consistency_mode_has_read<M> &&
                           consistency_mode_has_sparse_read<M> && consistency_mode_has_apply<M> &&
                           consistency_mode_has_lifecycle<M>;

// ---------------------------------------------------------------------------------------------
/// @concept averaging_topology
/// Which nodes average with which (docs/policies/topology.md): in global rounds, or in events
/// each node starts on its own (gossip).
///   1. `using policy_kind = asgd::averaging_topology_tag;`
///   2. Rounds: `t.neighbours(round, node, nodes, seed)` returns the `mixing_row` of `node` in
///      averaging round `round`; the same arguments give the same row (runs can be replayed).
///   3. Or gossip (`asgd::gossip_topology`): `t.peers(node, nodes, seed)` returns the node's
///      neighbours on the graph (a `std::vector<std::size_t>`, the same on every call);
///      `t.partner(peers, g)` picks one of them for an interaction, drawing from the `rng` `g`;
///      `t.local_steps(every, g)` returns the node's steps (>= 1) until its next interaction,
///      `every` being `settings.averaging.every`; `t.two_sided()` says whether the partner
///      takes the average too (else only the initiator does).
template <class T>
concept averaging_topology_has_tag = detail::has_policy_kind<T, averaging_topology_tag>;
template <class T>
concept averaging_topology_has_neighbours =
    requires(const T& t, std::uint64_t round, std::size_t node, std::size_t nodes, std::uint64_t seed) {
      { t.neighbours(round, node, nodes, seed) } -> std::same_as<mixing_row>;
    };
template <class T>
concept averaging_topology_has_gossip =
    requires(const T& t, std::size_t node, std::size_t nodes, std::uint64_t seed, std::uint64_t every,
             std::span<const std::size_t> peers, rng& g) {
      { t.peers(node, nodes, seed) } -> std::same_as<std::vector<std::size_t>>;
      { t.partner(peers, g) } -> std::convertible_to<std::size_t>;
      { t.local_steps(every, g) } -> std::convertible_to<std::uint64_t>;
      { t.two_sided() } -> std::convertible_to<bool>;
    };
template <class T>
concept gossip_topology = averaging_topology_has_tag<T> && averaging_topology_has_gossip<T>;
template <class T>
concept averaging_topology =
    averaging_topology_has_tag<T> && (averaging_topology_has_neighbours<T> || averaging_topology_has_gossip<T>);

// ---------------------------------------------------------------------------------------------
/// @concept communication_transport
/// How nodes move bytes between each other (docs/policies/transport.md).
///   1. `using policy_kind = asgd::transport_tag;`
///   2. `t.node_id()` and `t.node_count()` convert to `std::size_t`.
///   3. `t.all_reduce_mean(v)` replaces the `std::span<float>` `v` of every node by the mean over
///      all nodes (a collective: every node calls it, in the same order).
///   4. `t.exchange(round, peers, send, received)` sends the bytes `send` to every node in `peers`
///      and receives, from each of them, its bytes of the same `round` into `received[k]`
///      (point to point: a node waits only for the peers it names; peers name each other).
/// Both throw `asgd::transport_error` (naming the operation, round and peer) when a peer fails
/// or does not answer within the transport's timeout: a lost node ends a run, never hangs it.
template <class T>
concept transport_has_tag = detail::has_policy_kind<T, transport_tag>;
template <class T>
concept transport_has_identity = requires(const T& t) {
  { t.node_id() } -> std::convertible_to<std::size_t>;
  { t.node_count() } -> std::convertible_to<std::size_t>;
};
template <class T>
concept transport_has_collectives =
    requires(T& t, std::span<float> v, std::uint64_t round, std::span<const std::size_t> peers,
             std::span<const std::byte> send, std::vector<std::vector<std::byte>>& received) {
      t.all_reduce_mean(v);
      t.exchange(round, peers, send, received);
    };
template <class T>
concept communication_transport = transport_has_tag<T> && transport_has_identity<T> && transport_has_collectives<T>;

/// @concept per_peer_exchange_transport
/// Optional, required by a quantizer that sends each peer its own message (`shared_reference`,
/// as quantize::differences): `t.exchange_each(round, peers, sends, received)` is `exchange`
/// with the `std::span<const std::span<const std::byte>>` `sends`, `sends[k]` going to
/// `peers[k]` (docs/policies/transport.md).
template <class T>
concept per_peer_exchange_transport =
    communication_transport<T> &&
    requires(T& t, std::uint64_t round, std::span<const std::size_t> peers,
             std::span<const std::span<const std::byte>> sends, std::vector<std::vector<std::byte>>& received) {
      t.exchange_each(round, peers, sends, received);
    };

/// @concept gossip_transport
/// Optional, required by a gossip topology: a transport where each node publishes a copy of its
/// model that others read or average with one-sided (docs/policies/transport.md, "Gossip"):
///   5. `t.open_gossip(copy_bytes)` readies the node for copies of at most `copy_bytes` (a
///      collective, before any other gossip call) and `t.close_gossip()` ends gossip (a
///      collective, after every node's last);
///   6. `t.publish(f)`: under this node's lock, `f(copy, changes, bytes)` gets its published copy
///      as other nodes' averages left it (`std::span<const std::byte>`, empty before the first
///      publication) and how many averages changed it since this node last published
///      (`std::uint64_t`), and fills the `std::vector<std::byte>&` `bytes` with the copy that
///      replaces it;
///   7. `t.read_published(peer, out)` copies `peer`'s copy into the `std::vector<std::byte>`
///      `out`, false when it has published nothing yet;
///   8. `t.average_with(peer, f)`: atomically with respect to other accesses to `peer`'s copy,
///      `f(copy, new_copy)` reads it (`std::span<const std::byte>`) and writes its replacement
///      (`std::vector<std::byte>&`), which counts as one change for `peer`'s next publish; false
///      when `peer` has published nothing yet.
template <class T>
concept gossip_transport =
    communication_transport<T> && requires(T& t, std::size_t n, std::vector<std::byte>& out) {
      t.open_gossip(n);
      t.close_gossip();
      t.publish([](std::span<const std::byte>, std::uint64_t, std::vector<std::byte>&) {});
      { t.read_published(n, out) } -> std::convertible_to<bool>;
      {
        t.average_with(n, [](std::span<const std::byte>, std::vector<std::byte>&) {})
      } -> std::convertible_to<bool>;
    };

/// @concept round_calling_transport
/// Optional: a transport whose nodes start a non-blocking round when the first of them is due
/// (settings.averaging.first_due_starts; without it, a round waits for its last node):
///   9. `t.call_round(round)` announces that this node starts round `round` (`std::uint64_t`):
///      rounds up to it count as called, and every other node's callback runs;
///  10. `t.rounds_called()` is the number of rounds called so far (`std::uint64_t`), any node's;
///  11. `t.on_round_called(wake, arg)` sets what another node's call runs for this node:
///      `wake(arg)`, a `void (*)(void*) noexcept` that neither blocks nor throws (null: nothing).
///      A transport that cannot run it when a call arrives (MPI, whose messages arrive when
///      polled) has `t.round_call_poll()`, a `std::chrono::microseconds`: a waiting averager
///      checks `rounds_called()` that often. And one whose calls need ending has
///      `t.close_rounds()`, a collective after every node's last round.
template <class T>
concept round_calling_transport =
    communication_transport<T> && requires(T& t, std::uint64_t round, void (*wake)(void*) noexcept, void* arg) {
      t.call_round(round);
      { t.rounds_called() } -> std::convertible_to<std::uint64_t>;
      t.on_round_called(wake, arg);
    };

/// @concept split_all_reduce_transport
/// Optional: a transport whose all-reduce runs in two phases, so workers can take non-blocking
/// rounds between their steps (settings.averaging.rounds_on_workers):
///  12. `t.post_mean(v)` joins the next all-reduce with `v` (`std::span<float>`) without waiting
///      and returns a ticket (`std::uint64_t`); `v` receives the mean;
///  13. `t.mean_ready(ticket)` says, without blocking, whether that mean is in (`bool`);
///  14. `t.mean_posted()` whether a node has joined the next all-reduce (`bool`);
///  15. `t.await_mean(ticket, v)` waits for that mean, as all_reduce_mean would.
///      One whose split all-reduce serves better with a setup (mpi's shared-memory window) has
///      `t.open_means(n)` and `t.close_means()`: collectives that a trainer with non-blocking
///      rounds calls before its first round of a model of `n` floats and after its run's last mean.
template <class T>
concept split_all_reduce_transport =
    communication_transport<T> && requires(T& t, const T& ct, std::span<float> v, std::uint64_t ticket) {
      { t.post_mean(v) } -> std::convertible_to<std::uint64_t>;
      { ct.mean_ready(ticket) } -> std::convertible_to<bool>;
      { ct.mean_posted() } -> std::convertible_to<bool>;
      t.await_mean(ticket, v);
    };

// ---------------------------------------------------------------------------------------------
/// @concept quantizer
/// How a model is encoded before it is sent (docs/policies/quantize.md).
///   1. `using policy_kind = asgd::quantizer_tag;`
///   2. `q.encode(x, out, g)` appends the encoding of the `std::span<const float>` `x` to the
///      `std::vector<std::byte>` `out`, drawing any randomness from the `rng` `g`.
///   3. `q.decode(bytes, reference, out)` writes the decoded floats into `out`; `reference` is the
///      receiver's own model (reference-point quantizers decode against it).
///   4. `q.encoded_bits(n)` returns the bits an encoding of `n` floats takes.
template <class Q>
concept quantizer_has_tag = detail::has_policy_kind<Q, quantizer_tag>;
template <class Q>
concept quantizer_has_codec = requires(const Q& q, std::span<const float> x, std::vector<std::byte>& out, rng& g,
                                       std::span<const std::byte> bytes, std::span<float> dst) {
  q.encode(x, out, g);
  q.decode(bytes, x, dst);
};
template <class Q>
concept quantizer_has_size = requires(const Q& q, std::size_t n) {
  { q.encoded_bits(n) } -> std::convertible_to<std::size_t>;
};
template <class Q>
concept quantizer = quantizer_has_tag<Q> && quantizer_has_codec<Q> && quantizer_has_size<Q>;

/// A quantizer whose messages are differences against a reference that both ends of a link keep
/// (`static constexpr bool shared_reference = true`, as quantize::differences): the averager
/// keeps those references and sends each peer its own message.
template <class Q>
concept shared_reference_quantizer = quantizer<Q> && requires { requires Q::shared_reference; };

}  // namespace asgd::inline v0
