#pragma once
/// @file
/// Lock-based consistent AsyncSGD: a consistent snapshot under a lock, the update under a lock.

#include <asgd/detail/memory.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string_view>

namespace asgd::inline v0::consistency {

/// The lock-based AsyncSGD baseline of Leashed-SGD's paper ("ASYNC" in its code): a worker
/// copies the model under a mutex, computes its gradient on the copy, and applies the update
/// in place under the same mutex. Step directions are computed before the lock is taken, so
/// the critical section is a copy or an axpy.
///
/// Guarantees: every gradient sees a consistent model (some sequential prefix of the updates);
/// no update is lost; staleness is exact. Sparse gradients read the shared model in place while
/// holding the lock, so their reads and update form one critical section (staleness 0).
/// Non-guarantees: blocking (a preempted lock holder stalls everyone); on this 2-core VM it
/// scales negatively for any model up to at least 4 MB (docs/performance.md, "The machine").
struct locked {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "locked";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 4096;
  static constexpr bool concurrent_mix = true;
  static constexpr bool simulatable = true;
  /// Every read and write is under the lock: its turns order the run.
  [[nodiscard]] constexpr bool replayable() const noexcept { return true; }

  class store {
   public:
    struct worker {
      detail::float_buffer snapshot;
      detail::float_buffer direction;
    };

    /// The sparse view keeps the lock until its update is applied.
    class sparse_view {
     public:
      sparse_view(std::unique_lock<detail::mutex> lock, model_reader reader, std::uint64_t version)
          : lock_(std::move(lock)), reader_(reader), version_(version) {}
      [[nodiscard]] model_reader reader() const noexcept { return reader_; }
      [[nodiscard]] std::uint64_t version() const noexcept { return version_; }

     private:
      friend class store;
      std::unique_lock<detail::mutex> lock_;
      model_reader reader_;
      std::uint64_t version_;
    };

    store(const locked& /*mode*/, const store_config& config, std::span<const float> initial)
        : model_(config.dimension) {
      std::copy(initial.begin(), initial.end(), model_.data());
    }

    worker make_worker(std::size_t /*id*/) const {
      return {detail::float_buffer(model_.size()), detail::float_buffer(model_.size())};
    }

    detail::view_handle read(worker& w) {
      std::lock_guard lock(mutex_);
      std::copy_n(model_.data(), model_.size(), w.snapshot.data());
      detail::charge_copy(model_.size());  // in a simulated run, others wait for the lock meanwhile
      return {w.snapshot.span(), version_};
    }

    sparse_view read_sparse(worker& /*w*/) {
      std::unique_lock lock(mutex_);
      return {std::move(lock), model_reader(model_.span()), version_};
    }

    template <class Dir, class Lr>
    apply_result apply(worker& w, detail::view_handle& h, param_range r, std::span<const float> g, Dir&& dir,
                       Lr&& lr) {
      detail::directions(r, g, h.values(), dir, w.direction.data());
      detail::charge_update(r.size());
      float* x = model_.data() + r.begin;
      const float* d = w.direction.data();
      std::lock_guard lock(mutex_);
      // In a simulated run: when another worker updated the model last, its lines come from
      // that worker's core first (here or in the read; charged once, as HOGWILD!'s update).
      detail::charge_update_of(model_.data(), r.size());
      const std::uint64_t tau = version_ - h.version();
      const auto step = static_cast<float>(lr(tau));
      for (std::size_t k = 0; k < r.size(); ++k) x[k] -= step * d[k];
      ++version_;
      return {true, tau, 0};
    }

    template <class Dir, class Lr>
    apply_result apply_sparse(worker& /*w*/, sparse_view& h, std::span<const std::uint32_t> idx,
                              std::span<const float> g, Dir&& dir, Lr&& lr) {
      // h holds the lock: the gradient's reads and this update are one critical section.
      detail::charge_update(idx.size());
      detail::step_sparse<detail::write_kind::plain>(model_.data(), idx, g, dir, static_cast<float>(lr(0)));
      ++version_;
      h.lock_.unlock();
      return {true, 0, 0};
    }

    void finish(worker& /*w*/) noexcept {}

    /// Adds `delta` to the model under the lock (an averaging round's mix).
    void mix(std::span<const float> delta) {
      std::lock_guard lock(mutex_);
      detail::charge_update_of(model_.data(), delta.size());
      detail::add_dense<detail::write_kind::plain>(model_.data(), delta);
    }

    /// Replaces the model by `values` under the lock (a blocking round's average).
    void assign(std::span<const float> values) {
      std::lock_guard lock(mutex_);
      detail::charge_copy(values.size());
      detail::charge_wrote(model_.data());
      std::copy(values.begin(), values.end(), model_.data());
    }

    void copy_to(std::span<float> out) const {
      std::lock_guard lock(mutex_);
      std::copy_n(model_.data(), model_.size(), out.data());
    }
    [[nodiscard]] std::uint64_t version() const {
      std::lock_guard lock(mutex_);
      return version_;
    }
    [[nodiscard]] store_stats stats() const noexcept { return {}; }

   private:
    mutable detail::mutex mutex_;
    detail::float_buffer model_;
    std::uint64_t version_ = 0;
  };

  friend bool operator==(const locked&, const locked&) = default;
  friend std::ostream& operator<<(std::ostream& os, const locked&) { return os << "locked{}"; }
};

}  // namespace asgd::inline v0::consistency
