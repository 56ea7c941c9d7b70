#pragma once
/// @file
/// Leashed-SGD: consistent, lock-free AsyncSGD over immutable published model versions.

#include <asgd/detail/memory.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/detail/streaming.hpp>
#include <asgd/detail/version_chain.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string_view>
#include <utility>  // std::move

namespace asgd::inline v0::consistency {

/// Leashed-SGD (Backstrom, Walulya, Papatriantafilou, Tsigas; IPDPS 2021).
///
/// The shared model is a pointer to an immutable version. A worker computes its gradient
/// directly on the version it pinned (no copy), then builds the next version in a private
/// buffer (a copy of the newest version plus its update) and publishes it with one
/// compare-and-swap. If another worker published first, it rebuilds on the newer version and
/// tries again, at most `persistence` times; then the gradient is dropped.
///
/// Reclamation is safe: the published word packs the version's slot with an external count
/// of the pins taken through it, so loading the pointer and pinning the version is one atomic
/// fetch_add (split reference counts). Leashed-SGD's own code increments a reader count after
/// loading the pointer, leaving a window in which the version can be freed; this cannot
/// happen here. Freed versions go back to a lock-free stack of buffers, never to the OS.
///
/// Guarantees: every gradient is computed on a consistent version; each published version
/// applies exactly one update to its predecessor (versions 0, 1, 2, ... with no gap, so the
/// staleness is exact); lock-free (a failed CAS means another worker succeeded); at most
/// 2 * workers + 1 model buffers exist at once (each worker pins at most one version and builds
/// at most one; plus the published one; a node's averager counts as one more worker, and each
/// of store_config's `readers`, threads that copy the model while workers run, adds one). An
/// averaging round's mix is published like an update: a new version, by CAS, never dropped. Non-guarantees: dropped gradients (finite
/// persistence) are lost, though their momentum has moved; every update costs a full model
/// copy, so sparse problems lose their sparsity here.
///
/// Where two or more workers share the store, versions are written with streaming stores
/// (detail/streaming.hpp): the next reader of a version is usually another worker's core.
struct leashed {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "leashed";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;
  static constexpr bool simulatable = true;

  /// `persistence` value that never drops a gradient (the paper's default).
  static constexpr std::size_t unbounded = std::numeric_limits<std::size_t>::max();

  /// Failed publications tolerated before a gradient is dropped (the paper's B). 0 drops the
  /// gradient at its first failure.
  std::size_t persistence = unbounded;

  /// Abandon building a version as soon as another worker has published (checked every 16 Ki
  /// parameters), as the code's `-C` option does; saves copying on large models. Such an
  /// attempt counts as a failed publication.
  bool check_concurrent_updates = false;

  /// Pins and publications order the run, and the recording logs where each came; a build
  /// abandoned early (check_concurrent_updates) depends on when another's CAS landed, which
  /// no worker reads, so such runs do not replay.
  [[nodiscard]] constexpr bool replayable() const noexcept { return !check_concurrent_updates; }

  class store;

  friend bool operator==(const leashed&, const leashed&) = default;
  friend std::ostream& operator<<(std::ostream& os, const leashed& m) {
    os << "leashed{.persistence = ";
    if (m.persistence == unbounded)
      os << "unbounded";
    else
      os << m.persistence;
    return os << ", .check_concurrent_updates = " << (m.check_concurrent_updates ? "true" : "false") << '}';
  }
};

class leashed::store {
  using chain = detail::version_chain<detail::float_buffer>;
  using slot_id = chain::slot_id;
  static constexpr std::size_t check_every = std::size_t{16} << 10;

 public:
  /// A worker's direction buffer and the buffer it builds its next version in (kept across
  /// steps: the version its last publication freed, or a dropped gradient's).
  struct worker {
    detail::float_buffer direction;
    slot_id building = chain::no_slot;
  };

  /// A pinned version; unpins when destroyed unless apply() already did.
  class pinned : public chain::pin {
   public:
    pinned(chain::pin&& p, std::size_t dimension) noexcept : chain::pin(std::move(p)), dimension_(dimension) {}
    [[nodiscard]] std::span<const float> values() const noexcept { return {data(), dimension_}; }
    [[nodiscard]] model_reader reader() const noexcept { return model_reader(values()); }

   private:
    std::size_t dimension_;
  };

  store(const leashed& mode, const store_config& config, std::span<const float> initial)
      : mode_(mode),
        dimension_(config.dimension),
        chain_(2 * (config.workers + config.averagers) + 1 + config.readers, config.dimension,
               [&](float* first) { std::copy(initial.begin(), initial.end(), first); }),
        mixer_{config.averagers > 0 ? detail::float_buffer(config.dimension) : detail::float_buffer(), chain::no_slot},
        lone_(detail::others_in(config) == detail::other_writers::none),
        stream_(config.workers > 1) {}

  store(const store&) = delete;
  store& operator=(const store&) = delete;

  worker make_worker(std::size_t /*id*/) const { return {detail::float_buffer(dimension_), chain::no_slot}; }

  pinned read(worker& /*w*/) const {
    pinned p{chain_.current(), dimension_};
    // In a simulated run: a version that another worker built (or any streamed out) comes from
    // there first.
    detail::charge_read_in_place(p.data(), dimension_);
    // Unless this worker is alone, the version is in memory (streamed out, its own too) or in
    // the cache of the thread that built it: one pass in order brings it into this core's
    // cache faster than the gradient's product would take it.
    if (!lone_) detail::touch_lines(p.data(), dimension_);
    return p;
  }
  pinned read_sparse(worker& /*w*/) const { return {chain_.current(), dimension_}; }

  template <class Dir, class Lr>
  apply_result apply(worker& w, pinned& h, param_range r, std::span<const float> g, Dir&& dir, Lr&& lr) {
    // Directions once, from the version the gradient saw; every attempt reuses them. When the
    // first attempt builds on that version (still the newest: always, on one worker), it
    // computes them in its own pass over the model; otherwise the chain has them computed before
    // it lets the version go. A build abandoned halfway (check_concurrent_updates) would leave
    // them half done, so that mode computes them first.
    const std::span<const float> x = h.values();
    float* d = w.direction.data();
    bool ready = false;
    // In a simulated run, the directions cost an update's time, in a pass of their own or fused
    // into the build (there on top of the build's copy: the development VM built a streamed
    // version of the MLP with momentum in 29-35 us, a copy took 7 us and the update 14-16 us).
    auto directions = [&] {
      detail::charge_update(r.size());
      detail::directions(r, g, x, dir, d);
      ready = true;
    };
    if (mode_.check_concurrent_updates) directions();
    // Writes out[i - lo] for i in [lo, hi): the new version's values, a copy with the update
    // fused in over `r`.
    auto values = [&](const float* from, float* out, float step, std::size_t lo, std::size_t hi) {
      const std::size_t a = std::clamp(r.begin, lo, hi);
      const std::size_t b = std::clamp(r.end, lo, hi);
      std::copy(from + lo, from + a, out);
      if (ready) {
        for (std::size_t i = a; i < b; ++i) out[i - lo] = from[i] - step * d[i - r.begin];
      } else if (lone_) {
        // No other writer: this publication cannot fail, and no retry reads the directions.
#if defined(__clang__)
#pragma clang loop vectorize(assume_safety)
#elif defined(__GNUC__)
#pragma GCC ivdep
#endif
        for (std::size_t i = a; i < b; ++i) out[i - lo] = from[i] - step * dir(i, g[i - r.begin], from[i]);
      } else {
        // `from` is the version the gradient saw, and [lo, hi) the whole model. The arrays do
        // not overlap (the pragma: no run-time checks for every buffer the rule touches).
#if defined(__clang__)
#pragma clang loop vectorize(assume_safety)
#elif defined(__GNUC__)
#pragma GCC ivdep
#endif
        for (std::size_t i = a; i < b; ++i) {
          const float di = dir(i, g[i - r.begin], from[i]);
          d[i - r.begin] = di;
          out[i - lo] = from[i] - step * di;
        }
      }
      std::copy(from + b, from + hi, out + (b - lo));
    };
    // Builds [lo, hi) of the new version; streamed where other workers read it next.
    auto build = [&](const float* from, float* to, float step, std::size_t lo, std::size_t hi) {
      if (!ready) detail::charge_update(std::clamp(r.end, lo, hi) - std::clamp(r.begin, lo, hi));
      auto fill = [&](float* out, std::size_t a, std::size_t b) { values(from, out, step, a, b); };
      if (stream_) {
        detail::stream_fill(to, lo, hi, fill);
      } else {
        fill(to + lo, lo, hi);
      }
      ready = true;
    };
    return publish(w, &h, directions, build, lr, mode_.persistence);
  }

  template <class Dir, class Lr>
  apply_result apply_sparse(worker& w, pinned& h, std::span<const std::uint32_t> idx, std::span<const float> g,
                            Dir&& dir, Lr&& lr) {
    const auto x = h.values();
    float* d = w.direction.data();
    for (std::size_t k = 0; k < idx.size(); ++k) d[k] = dir(idx[k], g[k], x[idx[k]]);
    detail::charge_update(idx.size());
    const std::size_t dim = dimension_;
    auto build = [idx, d, dim](const float* from, float* to, float step, std::size_t lo, std::size_t hi) {
      std::copy(from + lo, from + hi, to + lo);
      if (hi != dim) return;
      for (std::size_t k = 0; k < idx.size(); ++k) to[idx[k]] -= step * d[k];
    };
    return publish(w, &h, [] {}, build, lr, mode_.persistence);
  }

  void finish(worker& w) noexcept { chain_.recycle_building(w.building); }

  /// Publishes the newest version plus `delta` (an averaging round's mix), retrying until its
  /// CAS succeeds. One averager thread at a time (the store was built with averagers = 1).
  void mix(std::span<const float> delta) {
    if (mixer_.direction.size() != dimension_) {
      throw std::logic_error("asgd: leashed store built without an averager (store_config.averagers = 0) was asked to mix");
    }
    const float* d = delta.data();
    auto build = [d](const float* from, float* to, float /*step*/, std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i) to[i] = from[i] + d[i];
    };
    auto unit = [](std::uint64_t) { return 1.0; };
    (void)publish(mixer_, nullptr, [] {}, build, unit, unbounded);
    finish(mixer_);
  }

  /// Publishes `values` as the newest version (a blocking round's average, while the workers
  /// wait). One averager thread at a time, as for mix.
  void assign(std::span<const float> values) {
    if (mixer_.direction.size() != dimension_) {
      throw std::logic_error(
          "asgd: leashed store built without an averager (store_config.averagers = 0) was asked to assign");
    }
    const float* v = values.data();
    auto build = [v](const float* /*from*/, float* to, float /*step*/, std::size_t lo, std::size_t hi) {
      std::copy(v + lo, v + hi, to + lo);
    };
    auto unit = [](std::uint64_t) { return 1.0; };
    (void)publish(mixer_, nullptr, [] {}, build, unit, unbounded);
    finish(mixer_);
  }

  /// Copies the newest version (a consistent model).
  void copy_to(std::span<float> out) const {
    const auto p = chain_.current();
    std::copy_n(p.data(), dimension_, out.data());
  }

  /// The newest version's number: the count of updates published so far.
  [[nodiscard]] std::uint64_t version() const { return chain_.current().version(); }

  [[nodiscard]] store_stats stats() const noexcept { return chain_.stats(); }

  /// Model buffers alive now (published, pinned or being built).
  [[nodiscard]] std::size_t live_versions() const noexcept { return chain_.live(); }

 private:
  // Publishes through the chain the change read from `read` (null: a mix; `leaving` is what the
  // chain calls before it lets `read` go unbuilt on); `build` writes [lo, hi) of a version, in
  // chunks of 16 Ki parameters with a look at the published word between them when
  // check_concurrent_updates.
  template <class Leaving, class Build, class Lr>
  apply_result publish(worker& w, pinned* read, Leaving&& leaving, Build& build, Lr& lr, std::size_t max_failures) {
    const std::size_t chunk = mode_.check_concurrent_updates ? check_every : dimension_;
    // In a simulated run whose cost model prices streaming stores, a streamed build is charged
    // as one: its source pulled where another core wrote it (from memory, where that core
    // streamed it), its stores at the stream bandwidth, nothing taken back from readers.
    const bool streamed = stream_ && detail::simulated_streams();
    auto chunked = [&](const float* from, float* to, float step, slot_id current) {
      // The buffer being built was a version that other workers built from (read) while it was
      // published: on hardware its lines are first taken back from their cores. Charged for the
      // whole buffer, before the build, in a simulated run.
      if (!streamed) detail::charge_overwrite(to, dimension_);
      for (std::size_t lo = 0; lo < dimension_; lo += chunk) {
        build(from, to, step, lo, std::min(lo + chunk, dimension_));
        // A version is built at about a copy's speed (slower from a version another core
        // built); in a simulated run, others may publish meanwhile, and the CAS that follows
        // fails as it would on hardware.
        const std::size_t n = std::min(chunk, dimension_ - lo);
        if (streamed) {
          detail::charge_read_in_place(from, n);
          detail::charge_stream(to, n);
        } else {
          detail::charge_copy_from(from, n);
        }
        if (mode_.check_concurrent_updates && !chain_.is_current(current)) {
          if (!streamed) detail::charge_wrote(to);
          return false;
        }
      }
      if (!streamed) detail::charge_wrote(to);
      return true;
    };
    return read != nullptr ? chain_.publish(w.building, *read, leaving, chunked, lr, max_failures)
                           : chain_.publish(w.building, chunked, lr, max_failures);
  }

  leashed mode_;
  std::size_t dimension_;
  chain chain_;
  worker mixer_;  // the averager's building buffer (its direction buffer only marks it present)
  bool lone_;     // one worker, and no averager publishing beside it
  bool stream_;   // versions built through stream_fill (another worker reads each next), as synchronous's slices
};

}  // namespace asgd::inline v0::consistency
