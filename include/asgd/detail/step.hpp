#pragma once
// Internal: the loops that write one update into a model, in the three ways the stores write,
// plus the plain view handles that stores without pins or locks return from read().

#include <asgd/detail/racy.hpp>
#include <asgd/detail/simulation.hpp>
#include <asgd/sparse.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

namespace asgd::inline v0::detail {

/// How a store writes its model.
enum class write_kind {
  plain,   // no concurrent reader or writer (one thread, or under a lock, or in a private phase)
  racy,    // relaxed load + relaxed store per coordinate: lost updates possible (HOGWILD!)
  atomic,  // relaxed atomic add per coordinate: no update is lost
};

/// Whether a store made for `config` has writers besides the one writing: more than one worker,
/// or an averager that mixes while they run.
[[nodiscard]] inline other_writers others_in(const store_config& config) noexcept {
  const std::size_t averagers = config.mixes_while_running ? config.averagers : 0;
  return config.workers + averagers > 1 ? other_writers::possible : other_writers::none;
}

/// Entries in each piece of an update of `n` entries that a store writes where other threads
/// write too, asking for the rate again before each piece after the first (where the run is
/// then: a writer descheduled within its write lands the pieces after the sleep at the late
/// rate): about 16 pieces, of at least 16 entries, a multiple of 64 floats beyond 1,024 (whole
/// blocks of racy_update). One piece where no other thread writes: then nobody moves the run on
/// while the writer sleeps.
[[nodiscard]] inline std::size_t write_piece(std::size_t n, other_writers others) noexcept {
  if (others == other_writers::none) return std::max<std::size_t>(n, 1);
  return n <= 1024 ? std::size_t{16} : (n / 16 + 63) / 64 * 64;
}

/// `x[i] <- x[i] - lr * dir(i, g[k], x[i])` for i = r.begin + k, k < r.size(). A racy write
/// also stores each new value into `also[i]` when `also` is not null, and checks its stores
/// against other writers unless told there are none (racy_update).
template <write_kind W, class Dir>
void step_dense(float* x, param_range r, std::span<const float> g, Dir& dir, float lr, float* also = nullptr,
                other_writers others = other_writers::possible) noexcept {
  const std::size_t n = r.size();
  float* xr = x + r.begin;
  if constexpr (W == write_kind::plain) {
    for (std::size_t k = 0; k < n; ++k) xr[k] -= lr * dir(r.begin + k, g[k], xr[k]);
  } else if constexpr (W == write_kind::racy) {
    racy_update(
        xr, n, [&](std::size_t k, float v) { return v - lr * dir(r.begin + k, g[k], v); },
        also == nullptr ? nullptr : also + r.begin, others);
  } else {
    for (std::size_t k = 0; k < n; ++k) atomic_add(xr[k], -lr * dir(r.begin + k, g[k], racy_load(xr[k])));
  }
}

/// Chunk of a pass over a shared model in a simulated run: each takes its virtual time, and other
/// tasks run between them.
inline constexpr std::size_t simulated_chunk = std::size_t{16} << 10;

// The simulated runs' passes, chunk by chunk; out of line and cold, so that the real runs' code
// around them stays as small as without a simulator.
template <write_kind W, class Dir>
[[gnu::noinline, gnu::cold]] void simulated_step_dense(float* x, param_range r, std::span<const float> g, Dir& dir,
                                                       float lr, float* also, other_writers others) {
  for (std::size_t a = r.begin; a < r.end; a += simulated_chunk) {
    const std::size_t b = std::min(a + simulated_chunk, r.end);
    if constexpr (W == write_kind::atomic) {
      charge_atomics(b - a);
    } else {
      charge_update_of(x + a, b - a);  // a chunk another worker wrote last comes from its core
    }
    // Through a lambda of its own: an instantiation of step_dense apart from the real runs',
    // which then stays called once and inlined where it is called (measured: 8-10 ns a step of
    // HOGWILD! on a small model when both shared one out-of-line copy).
    auto same = [&dir](std::size_t i, float gi, float xi) { return dir(i, gi, xi); };
    step_dense<W>(x, param_range{a, b}, g.subspan(a - r.begin, b - a), same, lr, also, others);
  }
}
[[gnu::noinline, gnu::cold]] inline void simulated_racy_copy(const float* from, float* to, std::size_t n) {
  for (std::size_t a = 0; a < n; a += simulated_chunk) {
    const std::size_t m = std::min(simulated_chunk, n - a);
    racy_copy(from + a, to + a, m);
    charge_copy(m);
  }
}

/// step_dense, taking virtual time in a simulated run: chunk by chunk, each written when its
/// time is over, so other tasks may read an update half written (as they can on hardware).
template <write_kind W, class Dir>
void timed_step_dense(float* x, param_range r, std::span<const float> g, Dir& dir, float lr, float* also = nullptr,
                      other_writers others = other_writers::possible) {
  if (simulated()) [[unlikely]] {
    simulated_step_dense<W>(x, r, g, dir, lr, also, others);
    return;
  }
  step_dense<W>(x, r, g, dir, lr, also, others);
}

/// racy_copy of n floats, chunk by chunk in a simulated run (each copied at the start of its
/// time), so a read may mix updates that land while it copies, as HOGWILD!'s may.
inline void timed_racy_copy(const float* from, float* to, std::size_t n) {
  if (simulated()) [[unlikely]] {
    simulated_racy_copy(from, to, n);
    return;
  }
  racy_copy(from, to, n);
}

/// Whether the run moved on past a limit since a write asked for its rate (the limit:
/// step_claims::moved_past): one relaxed load of the claims counter, cheap enough for a write
/// to check at each entry.
class rate_watch {
 public:
  rate_watch() noexcept = default;  // never holds
  rate_watch(const std::atomic<std::uint64_t>& claimed, std::uint64_t limit) noexcept
      : claimed_(&claimed), limit_(limit) {}
  [[nodiscard]] bool operator()() const noexcept { return claimed_->load(std::memory_order_relaxed) > limit_; }

 private:
  inline static const std::atomic<std::uint64_t> none_{0};
  const std::atomic<std::uint64_t>* claimed_ = &none_;
  std::uint64_t limit_ = std::numeric_limits<std::uint64_t>::max();
};

/// A write's stop condition that never holds.
struct never_stop {
  constexpr bool operator()() const noexcept { return false; }
};

/// The same for sparse entries (unique indices); a racy write checks each store against other
/// writers unless told there are none (racy_checked_value). A racy or atomic write stops before
/// the first entry at which `stop()`, asked after the entry's load, holds (the rate it was
/// given is out of date); returns the entries written.
template <write_kind W, class Dir, class Stop = never_stop>
std::size_t step_sparse(float* x, std::span<const std::uint32_t> idx, std::span<const float> g, Dir& dir, float lr,
                        [[maybe_unused]] other_writers others = other_writers::possible,
                        [[maybe_unused]] Stop&& stop = {}) noexcept {
  for (std::size_t k = 0; k < idx.size(); ++k) {
    const std::size_t i = idx[k];
    if constexpr (W == write_kind::plain) {
      x[i] -= lr * dir(i, g[k], x[i]);
    } else if constexpr (W == write_kind::racy) {
      const float was = racy_load(x[i]);
      if (stop()) [[unlikely]] return k;
      const float v = was - lr * dir(i, g[k], was);
      racy_store(x[i], others == other_writers::possible ? racy_checked_value(x[i], was, v) : v);
    } else {
      const float was = racy_load(x[i]);
      if (stop()) [[unlikely]] return k;
      atomic_add(x[i], -lr * dir(i, g[k], was));
    }
  }
  return idx.size();
}

/// `x[i] <- x[i] + delta[i]` for every i: an averaging round's in-place mix (LAP-SGD's
/// `x += avg - snapshot`), written the store's way.
template <write_kind W>
void add_dense(float* x, std::span<const float> delta) noexcept {
  auto negate = [](std::size_t, float d, float) { return -d; };
  step_dense<W>(x, param_range{0, delta.size()}, delta, negate, 1.0f);
}

/// `out[k] = dir(r.begin + k, g[k], x[r.begin + k])`: directions computed ahead of a write
/// (outside a lock, or once before Leashed-SGD's publication attempts).
template <class Dir>
void directions(param_range r, std::span<const float> g, std::span<const float> x, Dir& dir, float* out) noexcept {
  for (std::size_t k = 0; k < r.size(); ++k) out[k] = dir(r.begin + k, g[k], x[r.begin + k]);
}

/// A read handle that owns nothing: the view stays valid by the store's own protocol.
class view_handle {
 public:
  view_handle(std::span<const float> values, std::uint64_t version) noexcept : values_(values), version_(version) {}
  [[nodiscard]] std::span<const float> values() const noexcept { return values_; }
  [[nodiscard]] std::uint64_t version() const noexcept { return version_; }

 private:
  std::span<const float> values_;
  std::uint64_t version_;
};

/// A sparse read handle that owns nothing.
class reader_handle {
 public:
  reader_handle(model_reader reader, std::uint64_t version) noexcept : reader_(reader), version_(version) {}
  [[nodiscard]] model_reader reader() const noexcept { return reader_; }
  [[nodiscard]] std::uint64_t version() const noexcept { return version_; }

 private:
  model_reader reader_;
  std::uint64_t version_;
};

}  // namespace asgd::inline v0::detail
