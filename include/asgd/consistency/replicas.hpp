#pragma once
/// @file
/// Per-worker replicas: each worker trains its own copy of the model and adds what it learned
/// to the shared model every few steps, in place (Downpour SGD's push and fetch, in one process).

#include <asgd/detail/memory.hpp>
#include <asgd/detail/racy.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/detail/validate.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asgd::inline v0::consistency {

/// Per-worker replicas with delayed, summed pushes. Each worker computes gradients on, and
/// applies its updates to, a private replica; after every `sync_every` of its updates it adds
/// the replica's change since its last sync to the shared model and takes the sum back as its
/// replica, in one pass (`shared += replica - base; replica = base = shared`). This is Downpour
/// SGD's worker loop (Dean et al., NIPS 2012) with n_push = n_fetch = `sync_every`, run on one
/// shared array in place instead of a parameter server. `sync_every = 1` is HOGWILD! with the
/// update written twice.
///
/// Why: HOGWILD! writes the shared model on every step, so two cores hand its cache lines back
/// and forth; here a worker touches the shared model once per `sync_every` steps and otherwise
/// runs at the speed of sequential SGD on private memory.
///
/// Guarantees: every worker's updates reach the shared model once each (summed, as sequential
/// SGD sums its steps), at the latest at the worker's next sync, pause or finish, so an
/// evaluation, checkpoint or the final model includes all of them; every float is read and
/// written whole; no data race in C++'s sense (shared accesses as in `hogwild`).
/// A worker descheduled while the run moved on (the trainer calls `rescale_pending`, and a sync
/// asks for the rate again) adds its held-back change at the run's present rate, not at the
/// rates of the early steps it made them in, and syncs at its next update.
///
/// Non-guarantees: a gradient does not see the other workers' updates made since this worker's
/// last sync (staleness up to about `sync_every` x workers updates, measured as in `hogwild`);
/// two workers syncing the same coordinate at the same moment may lose one's change (the pass
/// is HOGWILD!'s racy read-modify-write), and a worker descheduled inside its sync pass adds
/// the rest of its change when it wakes (to the values present then: detail::racy_update), at
/// the rates it was made at; not reproducible with more than one worker.
struct replicas {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "replicas";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;
  static constexpr bool simulatable = true;

  std::size_t sync_every = 4;  ///< a worker's updates between its syncs with the shared model

  void validate() const {
    detail::require(sync_every >= 1 && sync_every <= (std::size_t{1} << 20), "replicas", "sync_every", sync_every,
                    "must be in [1, 2^20]");
  }

  friend bool operator==(const replicas&, const replicas&) = default;
  friend std::ostream& operator<<(std::ostream& os, const replicas& m) {
    return os << "replicas{.sync_every = " << m.sync_every << '}';
  }

  class store {
   public:
    /// A worker's replica, and the shared values it last took (its change since is what the
    /// next sync adds).
    struct worker {
      detail::float_buffer replica;
      detail::float_buffer base;
      std::size_t id = 0;
      std::uint64_t since_sync = 0;   // updates applied to the replica since the last sync
      std::uint64_t updates = 0;      // this worker's updates (its counter's value)
      std::uint64_t others_seen = 0;  // the other workers' updates in the shared model when the replica was taken
      bool stale = true;              // the next read takes the shared model first
      bool sync_now = false;          // the next update syncs, however few came since the last sync
    };

    store(const replicas& mode, const store_config& config, std::span<const float> initial)
        : model_(config.dimension),
          workers_(config.workers),
          sync_every_(mode.sync_every),
          staleness_every_(std::max<std::uint64_t>(1, config.staleness_every)),
          others_(detail::others_in(config)),
          applied_(config.workers),
          pushed_(config.workers) {
      mode.validate();
      std::copy(initial.begin(), initial.end(), model_.data());
    }

    worker make_worker(std::size_t id) const {
      if (id >= workers_) {
        throw std::out_of_range("asgd: worker id " + std::to_string(id) + " of a store made for " +
                                std::to_string(workers_) + " workers");
      }
      return {detail::float_buffer(model_.size()), detail::float_buffer(model_.size()), id};
    }

    /// The worker's replica: its own updates, and the shared model as of its last sync.
    detail::view_handle read(worker& w) {
      if (w.stale) take(w);
      return {w.replica.span(), 0};
    }
    detail::reader_handle read_sparse(worker& w) {
      if (w.stale) take(w);
      return {model_reader(w.replica.span()), 0};
    }

    template <class Dir, class Lr>
    apply_result apply(worker& w, detail::view_handle& /*h*/, param_range r, std::span<const float> g, Dir&& dir,
                       Lr&& lr) {
      const bool measured = measures(w);
      const std::uint64_t tau = measured ? staleness(w) : 0;
      const double rate = lr(tau);
      detail::charge_update(r.size());
      detail::step_dense<detail::write_kind::plain>(w.replica.data(), r, g, dir, static_cast<float>(rate));
      return after_update(w, tau, measured, rate, lr);
    }

    template <class Dir, class Lr>
    apply_result apply_sparse(worker& w, detail::reader_handle& /*h*/, std::span<const std::uint32_t> idx,
                              std::span<const float> g, Dir&& dir, Lr&& lr) {
      const bool measured = measures(w);
      const std::uint64_t tau = measured ? staleness(w) : 0;
      const double rate = lr(tau);
      detail::charge_update(idx.size());
      detail::step_sparse<detail::write_kind::plain>(w.replica.data(), idx, g, dir, static_cast<float>(rate));
      return after_update(w, tau, measured, rate, lr);
    }

    /// The worker was away (descheduled) while the run moved on, and is about to apply a step:
    /// its unsynced change, made at the rates of its earlier steps, lands at the run's present
    /// rate (`factor` times theirs), and this step syncs, so its next gradient is not taken on
    /// the replica it went away with.
    void rescale_pending(worker& w, double factor) noexcept {
      if (w.stale) return;
      w.sync_now = true;
      scale_change(w, factor);
    }

    /// A pausing or finishing worker adds its unsynced change, so the shared model holds every
    /// update; after a pause it takes the shared model afresh (others' changes, an averaging mix).
    void pause(worker& w) noexcept {
      push(w);
      w.stale = true;
    }
    void finish(worker& w) noexcept { push(w); }

    /// Adds `delta` to the shared model in place while workers run (an averaging round's mix);
    /// each worker takes it at its next sync.
    void mix(std::span<const float> delta) {
      auto negate = [](std::size_t, float d, float) { return -d; };
      detail::timed_step_dense<detail::write_kind::racy>(model_.data(), param_range{0, delta.size()}, delta, negate, 1.0f);
    }

    /// Replaces the shared model by `values` while the workers wait (a blocking round's average);
    /// each worker takes it at its next sync.
    void assign(std::span<const float> values) noexcept {
      detail::charge_copy(values.size());
      detail::racy_write(values.data(), model_.data(), values.size());
    }

    void copy_to(std::span<float> out) const noexcept { detail::racy_copy(model_.data(), out.data(), model_.size()); }
    /// The shared model itself, for a caller that holds every worker at a barrier (their
    /// changes pushed at the pause): a blocking round's all-reduce averages it where it is.
    [[nodiscard]] std::span<float> model_while_workers_wait() noexcept { return model_.span(); }
    /// Updates applied to replicas so far, summed over the workers' counters.
    [[nodiscard]] std::uint64_t version() const noexcept { return applied_.sum(); }
    [[nodiscard]] store_stats stats() const noexcept { return {}; }

   private:
    // A sync asks for the rate again: where it changed since the step (the worker was away
    // between the two, or with several workers the run moved on a step or two), the change lands
    // at the present rate, scaled within the sync's pass.
    template <class Lr>
    apply_result after_update(worker& w, std::uint64_t tau, bool measured, double rate, Lr& lr) {
      w.updates = applied_.bump(w.id);
      if (++w.since_sync >= sync_every_ || w.sync_now) sync(w, [&] { return lr(tau); }, rate);
      return {true, tau, 0, measured};
    }

    // replica = base + factor * (replica - base).
    void scale_change(worker& w, double factor) noexcept {
      if (w.since_sync == 0 || factor == 1.0) return;
      detail::charge_update(model_.size());
      const auto f = static_cast<float>(factor);
      float* replica = w.replica.data();
      const float* base = w.base.data();
      for (std::size_t k = 0; k < model_.size(); ++k) replica[k] = base[k] + f * (replica[k] - base[k]);
    }

    // shared + (replica - base): exactly the replica where nothing else changed the shared
    // coordinate since this worker took it (so one worker is sequential SGD, bit for bit), and
    // exactly the shared value where this worker did not change it (so a sync adds no rounding
    // to the others' updates or to an averaging mix).
    static float added(float shared, float replica, float base) noexcept {
      return shared == base ? replica : (replica == base ? shared : replica + (shared - base));
    }

    // shared += replica - base in one racy pass; each new shared value is also written to the
    // replica and the base when `take_back` is set. Where others write, the pass asks
    // `rate_now` as it goes: a worker descheduled within its pass, for the rest of a run at
    // worst, adds the rest of its change scaled from the rate it holds it at (`held`; 0: none
    // to rescale) to the run's present one, not at the early rate (on a sparse least-squares
    // problem, such late changes left final models 0.5-4 from the minimiser, of 14.8, in 13 of
    // 2,700 runs of six such processes at once on two cores; 2 with pieces of 16 floats).
    // A model of up to 1,024 floats asks for every float, inside its read-modify-write, one
    // float at a time; a larger one before each piece (detail::write_piece), to keep the pass
    // vectorised. Asked once per piece of 16, the question came before the code that makes the
    // piece's stores: a worker descheduled in between at its first sync (in each of the 3 such
    // failures traced) landed its first change, from the starting model, at the end of the
    // run, at the rate of its start (a dense least-squares model of 20 floats ended 0.39 from
    // the minimiser, of 4.7, in 7 of 1,800 test runs, six processes at once on two cores).
    template <class RateNow>
    void add_change(worker& w, bool take_back, RateNow&& rate_now, double held) {
      const float* base = w.base.data();
      const float* replica = w.replica.data();
      const std::size_t n = model_.size();
      // In a simulated run the pass lands whole at the end of its time (not chunk by chunk).
      detail::charge_update(n);
      if (held > 0.0 && others_ == detail::other_writers::possible && n <= 1024) {
        auto add = [&](std::size_t k, float shared) {
          const double now = rate_now();
          const float mine =
              now == held ? replica[k] : base[k] + static_cast<float>(now / held) * (replica[k] - base[k]);
          return added(shared, mine, base[k]);
        };
        // One float at a time (racy_update's blocks would compute 64 before storing any).
        float* const back = take_back ? w.replica.data() : nullptr;
        float* const back_base = take_back ? w.base.data() : nullptr;
        for (std::size_t k = 0; k < n; ++k) detail::racy_update_one(model_.data(), k, add, back, others_, back_base);
      } else {
        add_change_in_pieces(w, take_back, rate_now, held);
      }
      pushed_.set(w.id, w.updates);
      w.since_sync = 0;
      w.sync_now = false;
    }
    template <class RateNow>
    void add_change_in_pieces(worker& w, bool take_back, RateNow& rate_now, double held) {
      const float* base = w.base.data();
      const float* replica = w.replica.data();
      const std::size_t n = model_.size();
      const std::size_t piece = detail::write_piece(n, others_);
      for (std::size_t a = 0; a < n; a += piece) {
        const std::size_t len = std::min(piece, n - a);
        float* const back = take_back ? w.replica.data() + a : nullptr;
        float* const back_base = take_back ? w.base.data() + a : nullptr;
        const double now = held <= 0.0 ? held : rate_now();
        if (now == held) {
          detail::racy_update(
              model_.data() + a, len, [&](std::size_t k, float shared) { return added(shared, replica[a + k], base[a + k]); },
              back, others_, back_base);
        } else {
          const auto f = static_cast<float>(now / held);
          detail::racy_update(
              model_.data() + a, len,
              [&](std::size_t k, float shared) {
                return added(shared, base[a + k] + f * (replica[a + k] - base[a + k]), base[a + k]);
              },
              back, others_, back_base);
        }
      }
    }
    // The change added, and the sums taken back: replica = base = the new shared values.
    template <class RateNow>
    void sync(worker& w, RateNow&& rate_now, double held) {
      add_change(w, true, rate_now, held);
      w.others_seen = others_pushed(w);
    }
    // Only the change: the replica is taken afresh at the next read.
    void push(worker& w) noexcept {
      if (w.since_sync > 0) add_change(w, false, [] { return 0.0; }, 0.0);
    }
    void take(worker& w) noexcept {
      detail::timed_racy_copy(model_.data(), w.replica.data(), model_.size());
      detail::charge_copy(model_.size());
      std::memcpy(w.base.data(), w.replica.data(), model_.size() * sizeof(float));
      w.since_sync = 0;
      w.stale = false;
      w.others_seen = others_pushed(w);
    }

    // Staleness of an update: the other workers' updates its replica does not hold, i.e. all
    // they applied minus those they had pushed when the replica was taken (the worker's own are
    // all in its replica). The pushed counts are read once a sync; reading every applied count
    // costs a miss each, so staleness is measured on every staleness_every-th update only.
    [[nodiscard]] bool measures(const worker& w) const noexcept { return w.updates % staleness_every_ == 0; }
    [[nodiscard]] std::uint64_t others_pushed(const worker& w) const noexcept {
      return pushed_.sum() - pushed_.get(w.id);
    }
    [[nodiscard]] std::uint64_t staleness(const worker& w) const noexcept {
      const std::uint64_t now = version() - w.updates;  // the others' applied updates
      return now > w.others_seen ? now - w.others_seen : 0;
    }

    detail::float_buffer model_;
    std::size_t workers_;
    std::uint64_t sync_every_;
    std::uint64_t staleness_every_;
    detail::other_writers others_;  // whether a sync's stores must allow for another writer
    detail::worker_counters applied_;  // updates applied to each worker's replica
    detail::worker_counters pushed_;   // of those, added to the shared model
  };
};

}  // namespace asgd::inline v0::consistency
