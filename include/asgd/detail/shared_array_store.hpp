#pragma once
// Internal: one model array shared by all workers without locks; the store behind hogwild,
// atomic_add and bounded_staleness, which differ only in how they write (and, for
// bounded_staleness, in when a worker may start a step).

#include <asgd/detail/memory.hpp>
#include <asgd/detail/racy.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>

namespace asgd::inline v0::detail {

template <write_kind W>
class shared_array_store {
 public:
  /// A worker's private copy of the model, read for each dense gradient. A racy update writes
  /// its new values into the copy as well, so the next read copies only the coordinates that
  /// update did not write.
  struct worker {
    float_buffer snapshot;
    std::size_t id = 0;
    param_range current{0, 0};  // coordinates of `snapshot` the last update wrote
    std::uint64_t version = 0;  // the model's version when the snapshot was read (if measured)
    std::uint64_t updates = 0;  // this worker's updates (its counter's value)
  };

  template <class Mode>
  shared_array_store(const Mode& /*mode*/, const store_config& config, std::span<const float> initial)
      : model_(config.dimension),
        workers_(config.workers),
        staleness_every_(std::max<std::uint64_t>(1, config.staleness_every)),
        // One worker is the only writer while it runs: an averager's mixes wait for it (solo_).
        others_(config.workers == 1 ? other_writers::none : others_in(config)),
        lone_(others_in(config) == other_writers::none && config.readers == 0),
        solo_(config.workers == 1 && !lone_),
        pending_(solo_ ? config.dimension : 0),
        applied_(config.workers) {
    std::copy(initial.begin(), initial.end(), model_.data());
  }

  worker make_worker(std::size_t id) const {
    if (id >= workers_) {
      throw std::out_of_range("asgd: worker id " + std::to_string(id) + " of a store made for " +
                              std::to_string(workers_) + " workers");
    }
    return {lone_ || solo_ ? float_buffer() : float_buffer(model_.size()), id};
  }

  /// The model as this worker sees it: coordinates copied while others write them, so the view
  /// may mix coordinates from different updates (an inconsistent read, as in HOGWILD!). Those
  /// the worker's last update wrote were read then, block by block, and are not copied again:
  /// HOGWILD!'s read of a coordinate is that update's read of it, one step's bookkeeping earlier.
  /// A lone worker (no other worker, averager or reader) reads the model in place, as
  /// sequential SGD does: no other thread touches it while the worker runs. So does a solo
  /// worker (one worker beside an averager or a reader), which writes the model alone: it first
  /// adds the mixes posted since its last read (fold_pending).
  view_handle read(worker& w) {
    if (lone_ || solo_) {
      if (solo_) fold_pending();
      w.version = measures(w) ? version() : 0;
      return {model_.span(), w.version};
    }
    const param_range c = w.current;
    if (c.empty()) {
      w.version = measures(w) ? version() : 0;
      timed_racy_copy(model_.data(), w.snapshot.data(), model_.size());
    } else {
      timed_racy_copy(model_.data(), w.snapshot.data(), c.begin);
      timed_racy_copy(model_.data() + c.end, w.snapshot.data() + c.end, model_.size() - c.end);
    }
    w.current = {0, 0};
    return {w.snapshot.span(), w.version};
  }

  /// Sparse gradients read the shared model in place, one relaxed load per coordinate (a solo
  /// worker, after adding the mixes posted since its last read).
  reader_handle read_sparse(worker& w) noexcept {
    if (solo_) fold_pending();
    return {model_reader(model_.span()), measures(w) ? version() : 0};
  }

  /// The next read copies the whole model again (after a pause, or wherever the worker must see
  /// every update made before this moment).
  void refresh(worker& w) noexcept { w.current = {0, 0}; }
  void pause(worker& w) noexcept { refresh(w); }

  template <class Dir, class Lr>
  apply_result apply(worker& w, view_handle& h, param_range r, std::span<const float> g, Dir&& dir, Lr&& lr) {
    const bool measured = measures(w);
    const std::uint64_t tau = measured ? staleness(h.version()) : 0;
    if (W != write_kind::plain && !lone_ && !solo_ && !r.empty() && r.size() < racy_block && !simulated()) {
      // A small update (racy_update's one-float-at-a-time path anyway; atomic_add's adds) asks
      // for the rate of each piece inside the piece's first read-modify-write, after its load:
      // asked before the piece, the question came before the code that makes its stores, which
      // a worker's first update runs for the first time, and a worker descheduled there landed
      // the piece at the end of the run at its early rate. It asks again at any float whose
      // load comes after the run moved on (lr.watch(), as a sparse update does).
      float* const x = model_.data() + r.begin;
      const std::size_t piece = write_piece(r.size(), others_);
      float rate = 0.0f;
      rate_watch watch;
      auto rate_at = [&](std::size_t k) {
        if constexpr (requires { lr.watch(); }) {
          if (k % piece == 0 || watch()) {
            rate = static_cast<float>(lr(tau));
            watch = lr.watch();
          }
        } else if (k % piece == 0) {
          rate = static_cast<float>(lr(tau));
        }
        return rate;
      };
      if constexpr (W == write_kind::racy) {
        auto write = [&](std::size_t k, float v) { return v - rate_at(k) * dir(r.begin + k, g[k], v); };
        float* const also = w.snapshot.data() + r.begin;
        for (std::size_t k = 0; k < r.size(); ++k) racy_update_one(x, k, write, also, others_, nullptr);
      } else {  // atomic_add: the same question, between the load and the add
        for (std::size_t k = 0; k < r.size(); ++k) {
          const float was = racy_load(x[k]);
          atomic_add(x[k], -rate_at(k) * dir(r.begin + k, g[k], was));
        }
      }
    } else {
      apply_in_pieces(w, r, g, dir, lr, tau);
    }
    if constexpr (W == write_kind::racy) w.current = lone_ || solo_ ? param_range{0, 0} : r;
    count_update(w);
    // The next step's read of these coordinates is this update's: its version is now's.
    if constexpr (W == write_kind::racy) w.version = measures(w) ? version() : 0;
    return {true, tau, 0, measured};
  }

  template <class Dir, class Lr>
  void apply_in_pieces(worker& w, param_range r, std::span<const float> g, Dir& dir, Lr& lr, std::uint64_t tau) {
    for_each_piece(r.size(), [&](std::size_t a, std::size_t b, float rate) {
      const param_range piece{r.begin + a, r.begin + b};
      const auto gp = g.subspan(a, b - a);
      if (lone_) {
        timed_step_dense<write_kind::plain>(model_.data(), piece, gp, dir, rate);
      } else if (solo_) {  // racy stores (another thread may be reading), nobody else's to check
        timed_step_dense<write_kind::racy>(model_.data(), piece, gp, dir, rate, nullptr, other_writers::none);
      } else if constexpr (W == write_kind::racy) {
        timed_step_dense<W>(model_.data(), piece, gp, dir, rate, w.snapshot.data(), others_);
      } else {
        timed_step_dense<W>(model_.data(), piece, gp, dir, rate);
      }
      return b;
    }, lr, tau);
  }

  template <class Dir, class Lr>
  apply_result apply_sparse(worker& w, reader_handle& h, std::span<const std::uint32_t> idx,
                            std::span<const float> g, Dir&& dir, Lr&& lr) {
    w.current = {0, 0};  // the snapshot does not follow sparse writes
    const bool measured = measures(w);
    const std::uint64_t tau = measured ? staleness(h.version()) : 0;
    if (W == write_kind::atomic && !lone_) {
      charge_atomics(idx.size());
    } else {
      charge_update(idx.size());
    }
    for_each_piece(idx.size(), [&](std::size_t a, std::size_t b, float rate) -> std::size_t {
      const auto ip = idx.subspan(a, b - a);
      const auto gp = g.subspan(a, b - a);
      if (lone_) return a + step_sparse<write_kind::plain>(model_.data(), ip, gp, dir, rate);
      if (solo_) return a + step_sparse<write_kind::racy>(model_.data(), ip, gp, dir, rate, other_writers::none);
      // Several workers here (neither lone nor solo). An entry whose rate went out of date since
      // the piece asked for it (lr.watch(): this worker was descheduled while the others moved
      // the run on) starts a new piece, which asks again: a sleep at any entry, not only
      // between pieces, lands the rest of the update at the run's late rate.
      if constexpr (requires { lr.watch(); }) {
        return a + step_sparse<W>(model_.data(), ip, gp, dir, rate, others_, lr.watch());
      } else {
        return a + step_sparse<W>(model_.data(), ip, gp, dir, rate, others_);
      }
    }, lr, tau);
    count_update(w);
    return {true, tau, 0, measured};
  }

  void finish(worker& /*w*/) noexcept {}

  /// Adds `delta` to the model in place while workers run (an averaging round's mix), written
  /// the way updates are: racy stores may lose coordinates a worker writes at the same moment.
  /// Beside a solo worker, the mix is posted instead, and the worker adds it at its next read:
  /// nothing is lost, and the worker keeps the model to itself.
  void mix(std::span<const float> delta) {
    auto negate = [](std::size_t, float d, float) { return -d; };
    if (solo_) {
      charge_update(delta.size());  // before the hand-off is held: a simulated task never waits in it
      const hand_off hold(handing_);
      float* p = pending_.data();
      if (has_pending_.load(std::memory_order_relaxed)) {
        for (std::size_t i = 0; i < delta.size(); ++i) p[i] += delta[i];
      } else {
        std::copy(delta.begin(), delta.end(), p);
      }
      has_pending_.store(true, std::memory_order_relaxed);
      return;
    }
    timed_step_dense<W>(model_.data(), param_range{0, delta.size()}, delta, negate, 1.0f);
  }

  /// Replaces the model by `values` while the workers wait (a blocking round's average).
  void assign(std::span<const float> values) noexcept {
    charge_copy(values.size());
    const hand_off hold(handing_, solo_);
    racy_write(values.data(), model_.data(), values.size());
    has_pending_.store(false, std::memory_order_relaxed);  // `values` came from a copy_to, which added it
  }

  /// The model, with the mixes a solo worker has not added yet.
  void copy_to(std::span<float> out) const noexcept {
    const hand_off hold(handing_, solo_);
    racy_copy(model_.data(), out.data(), model_.size());
    if (solo_ && has_pending_.load(std::memory_order_relaxed)) {
      const float* p = pending_.data();
      for (std::size_t i = 0; i < out.size(); ++i) out[i] += p[i];
    }
  }
  /// The model itself, for a caller that holds every worker at a barrier: a blocking round's
  /// all-reduce averages it where it is, as `assign` would replace it.
  [[nodiscard]] std::span<float> model_while_workers_wait() noexcept {
    if (solo_) {
      const hand_off hold(handing_);
      add_pending();
    }
    return model_.span();
  }
  /// Updates applied so far, summed over the workers' counters.
  [[nodiscard]] std::uint64_t version() const noexcept { return applied_.sum(); }
  [[nodiscard]] store_stats stats() const noexcept { return {}; }

 private:
  // Held while pending_ (and, for the other threads, the model as a whole) is read or written
  // beside a solo worker: by the averager's mix, copy_to, assign, and by the worker's fold. The
  // worker only tries it (fold_pending); the others poll, for at most a pass over the model
  // (the worker's fold). In a simulated run it is never held across a charge, so no task polls.
  class hand_off {
   public:
    explicit hand_off(std::atomic<bool>& busy, bool take = true) noexcept : busy_(take ? &busy : nullptr) {
      if (busy_ != nullptr) {
        while (busy_->exchange(true, std::memory_order_acquire)) pause_polling();
      }
    }
    ~hand_off() {
      if (busy_ != nullptr) busy_->store(false, std::memory_order_release);
    }
    hand_off(const hand_off&) = delete;
    hand_off& operator=(const hand_off&) = delete;

   private:
    std::atomic<bool>* busy_;
  };

  // The solo worker, before it reads: adds the posted mixes to the model, unless the hand-off
  // is held now (then at a later read: the worker never waits for the averager).
  void fold_pending() noexcept {
    if (!has_pending_.load(std::memory_order_relaxed)) [[likely]] return;
    charge_update(model_.size());
    if (handing_.exchange(true, std::memory_order_acquire)) return;
    add_pending();
    handing_.store(false, std::memory_order_release);
  }
  // With the hand-off held. Racy stores: the model is read (copy_to) by no one meanwhile, but
  // the worker's own stores beside those reads are racy, and these are the same kind.
  void add_pending() noexcept {
    if (!has_pending_.load(std::memory_order_relaxed)) return;
    auto negate = [](std::size_t, float d, float) { return -d; };
    step_dense<write_kind::racy>(model_.data(), param_range{0, model_.size()}, pending_.span(), negate, 1.0f,
                                 nullptr, other_writers::none);
    has_pending_.store(false, std::memory_order_relaxed);
  }

  // Writes an update of n entries piece by piece (write_piece), write(begin, end, rate), asking lr
  // for the rate again before each piece after the first (lr looks where the run is:
  // trainer.hpp). A worker descheduled within its write for the rest of a run then lands the
  // pieces after it at the run's late rate, not all of the rest at its early one (which left a
  // sparse least-squares model 0.65 from the minimiser, of 14.8, where the run's own losses had
  // reached 1e-9).
  // `write` returns where it stopped: b, or before b where its rate went out of date, and the
  // next piece starts there.
  template <class Write, class Lr>
  void for_each_piece(std::size_t n, Write&& write, Lr& lr, std::uint64_t tau) {
    const std::size_t piece = write_piece(n, others_);
    std::size_t a = 0;
    do {  // once at least: a step asks for its rate even when it writes nothing
      a = write(a, std::min(n, a + piece), static_cast<float>(lr(tau)));
    } while (a < n);
  }

  // Staleness: updates applied between this worker's read and its update. Each worker counts
  // its updates on its own cache line, so a step writes no line another worker writes; reading
  // the others' counters does cost a cache miss per counter, so it is done only on the updates
  // that measure their staleness (every staleness_every-th of each worker; every one when the
  // learning rate depends on it). Counters are relaxed: no update is ordered by them.
  [[nodiscard]] bool measures(const worker& w) const noexcept { return w.updates % staleness_every_ == 0; }
  [[nodiscard]] std::uint64_t staleness(std::uint64_t read_version) const noexcept {
    const std::uint64_t now = version();
    return now > read_version ? now - read_version : 0;
  }
  void count_update(worker& w) noexcept {
    w.updates = applied_.bump(w.id);
  }

  float_buffer model_;
  std::size_t workers_;
  std::uint64_t staleness_every_;
  other_writers others_;  // whether an update's stores must allow for another writer
  // One worker and no other thread (averager, reader) at the model while it runs: it reads and
  // writes the model with plain accesses, as sequential SGD does. Racy accesses would buy
  // nothing here and cost 0.12-0.15 of the MLP's samples/s (the private copy they keep, and
  // 16-byte stores).
  bool lone_;
  // One worker beside an averager that mixes while it runs, or beside a reader (copy_to): the
  // worker is the model's only writer, so it reads the model in place and stores without the
  // check for other writers. An averager's mix is posted to pending_ and added by the worker
  // at its next read. (On the racy path, with its private copy and checked stores, a node's
  // MLP update took 46 us a step against 30 on the plain path, and two in-process nodes of one
  // worker ran at 77-125k samples/s each against 141-181k for two one-node processes.)
  bool solo_;
  float_buffer pending_;                   // mixes posted and not yet added (solo_)
  std::atomic<bool> has_pending_{false};   // pending_ holds them; written with handing_ held
  mutable std::atomic<bool> handing_{false};
  worker_counters applied_;
};

}  // namespace asgd::inline v0::detail
