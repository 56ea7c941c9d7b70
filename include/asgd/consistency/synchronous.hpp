#pragma once
/// @file
/// Synchronous parallel SGD: every worker's gradient on the same model, one update per round.

#include <asgd/detail/memory.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/detail/streaming.hpp>
#include <asgd/detail/sync.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::consistency {

/// The SYNC baseline (Leashed-SGD's paper; mini-batch SGD on threads). Each round every worker
/// computes a gradient on the same model; after a barrier each worker averages the round's
/// gradients over its own slice of the parameters and applies the update rule there, with its
/// own optimizer state for that slice; a second barrier ends the round. So a round is one
/// update with a minibatch of `workers * batch` samples.
///
/// Guarantees: consistent (every gradient sees the model after the previous round); no update
/// is lost; staleness is 0; with one worker it is sequential SGD. Non-guarantees: the slowest
/// worker sets the pace (two barriers per round: about 2 us here, more under oversubscription);
/// with partial block selectors, coordinates no worker chose get a zero gradient in that round.
///
/// With two or more workers a slice's new values are written with streaming stores
/// (detail/streaming.hpp): the other workers' next gradients read them.
struct synchronous {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "synchronous";
  static constexpr bool lockstep = true;
  static constexpr std::size_t max_workers = 4096;
  /// The model is plain memory between rounds: an averaging round may mix only while the
  /// workers wait.
  static constexpr bool concurrent_mix = false;
  static constexpr bool simulatable = true;
  /// Rounds between barriers: a run depends on nobody's timing.
  [[nodiscard]] constexpr bool replayable() const noexcept { return true; }

  class store {
   public:
    struct worker {
      std::size_t id = 0;
      // Sparse rounds only, allocated at the first (a dense run carries none): the round's
      // summed gradient over the own slice, which of its coordinates are in it, and those.
      std::vector<float> sum;
      std::vector<std::uint8_t> seen;
      std::vector<std::uint32_t> touched;
    };

    store(const synchronous& /*mode*/, const store_config& config, std::span<const float> initial)
        : workers_(config.workers),
          model_(config.dimension),
          deposits_(config.workers),
          barrier_(static_cast<std::ptrdiff_t>(config.workers), {}, round_spin) {
      std::copy(initial.begin(), initial.end(), model_.data());
      // Slices start on cache-line boundaries, so no two workers write one line.
      constexpr std::size_t per_line = detail::cache_line / sizeof(float);
      const std::size_t d = config.dimension;
      for (std::size_t w = 0; w < workers_; ++w) {
        auto at = [&](std::size_t k) { return std::min(d, (k * d / workers_ + per_line - 1) / per_line * per_line); };
        slices_.push_back({at(w), w + 1 == workers_ ? d : at(w + 1)});
      }
    }

    /// How long a worker that arrives early at a round's barrier spins before it sleeps (where
    /// the library's threads fit the cores). Longer than detail::barrier's default: one worker
    /// that sleeps wakes 30-40 us late, and every other waits that long for it at the next
    /// barrier. The waits are the imbalance of the workers' gradients and updates: on the MLP at
    /// batch 16, two workers on the development VM, 40-50 us typically, with a tail past 100 us.
    /// (The threads counted are this process's: MPI ranks that share the cores each spin.)
    static constexpr std::chrono::microseconds round_spin{300};

    worker make_worker(std::size_t id) const { return {id, {}, {}, {}}; }

    // Between the end of one round and the first barrier of the next, nobody writes the model.
    // With several workers every slice was streamed out to memory last round: one pass in order
    // brings the model into this core's cache faster than the gradient's product would take it.
    // (In a simulated run, that pass pulls the slices other workers updated.)
    detail::view_handle read(worker& /*w*/) const {
      if (workers_ > 1) {
        if (detail::simulated() != nullptr) [[unlikely]]
          charge_slices_read();
        detail::touch_lines(model_.data(), model_.size());
      }
      return {model_.span(), version_};
    }
    detail::reader_handle read_sparse(worker& /*w*/) const noexcept {
      return {model_reader(model_.span()), version_};
    }

    template <class Dir, class Lr>
    apply_result apply(worker& w, detail::view_handle& /*h*/, param_range r, std::span<const float> g, Dir&& dir,
                       Lr&& lr) {
      // The gradient stays where the worker computed it: it writes its next one after the round.
      const param_range own = slices_[w.id];
      deposits_[w.id] = {r, {}, g};
      // In a simulated run: the gradient wrote lines of the deposit that the other workers read
      // in the last round's sums (all of it but the own slice), which first came back from them.
      detail::charge_overwrite(g.data(), r.size() - overlap(own, r));
      barrier_.arrive_and_wait();  // every gradient deposited; nobody reads the model any more

      const auto step = static_cast<float>(lr(0));
      const deposit& first = deposits_[0];
      if (workers_ == 1 && first.range.begin <= own.begin && own.end <= first.range.end) {
        // One worker: its gradient is the round's mean, and the round is sequential SGD's step.
        detail::charge_update(own.size());
        detail::step_dense<detail::write_kind::plain>(
            model_.data(), own, first.values.subspan(own.begin - first.range.begin, own.size()), dir, step);
      } else {
        for (const deposit& dep : deposits_) {  // the sum reads each deposit on its worker's core
          if (const std::size_t n = overlap(own, dep.range); n > 0) detail::charge_copy_from(dep.values.data(), n);
        }
        if (detail::simulated_streams()) {
          // Streamed out (step_with_mean): the rule's arithmetic as an update, the stores at the
          // stream bandwidth, no line taken back from the gradients that read the slice.
          detail::charge_update(own.size());
          detail::charge_stream(model_.data() + own.begin, own.size());
        } else {
          // The slice's lines were read by the other workers' gradients: they come back first.
          detail::charge_update_of(model_.data() + own.begin, own.size());
        }
        step_with_mean(own, dir, step);
      }
      return end_round(w);
    }

    template <class Dir, class Lr>
    apply_result apply_sparse(worker& w, detail::reader_handle& /*h*/, std::span<const std::uint32_t> idx,
                              std::span<const float> g, Dir&& dir, Lr&& lr) {
      deposits_[w.id] = {{}, idx, g};  // the worker's sparse gradient, as in apply()
      barrier_.arrive_and_wait();

      const param_range own = slices_[w.id];
      detail::charge_update(idx.size() * deposits_.size());  // every deposit scanned, about this size
      if (w.seen.size() != own.size()) {
        w.sum.assign(own.size(), 0.0f);
        w.seen.assign(own.size(), 0);
      }
      w.touched.clear();
      for (const deposit& dep : deposits_) {
        for (std::size_t k = 0; k < dep.indices.size(); ++k) {
          const std::uint32_t i = dep.indices[k];
          if (!own.contains(i)) continue;
          const std::size_t at = i - own.begin;
          if (!w.seen[at]) {
            w.seen[at] = 1;
            w.sum[at] = 0.0f;
            w.touched.push_back(i);
          }
          w.sum[at] += dep.values[k];
        }
      }
      const float mean = 1.0f / static_cast<float>(workers_);
      const auto step = static_cast<float>(lr(0));
      float* x = model_.data();
      for (std::uint32_t i : w.touched) {
        const std::size_t at = i - own.begin;
        x[i] -= step * dir(i, w.sum[at] * mean, x[i]);
        w.seen[at] = 0;
      }
      return end_round(w);
    }

    /// A worker that leaves stops counting at the barriers, so the others never wait for it, and
    /// deposits nothing more (its last gradient is not summed again).
    void finish(worker& w) {
      deposits_[w.id] = {};
      barrier_.arrive_and_drop();
    }

    /// Adds `delta` to the model; only while the workers wait (concurrent_mix is false).
    void mix(std::span<const float> delta) {
      detail::charge_update(delta.size());
      detail::add_dense<detail::write_kind::plain>(model_.data(), delta);
    }

    /// Replaces the model by `values`; only while the workers wait.
    void assign(std::span<const float> values) {
      detail::charge_copy(values.size());
      std::copy(values.begin(), values.end(), model_.data());
    }

    void copy_to(std::span<float> out) const noexcept { std::copy_n(model_.data(), model_.size(), out.data()); }
    [[nodiscard]] std::uint64_t version() const noexcept { return version_; }
    [[nodiscard]] store_stats stats() const noexcept { return {}; }

   private:
    // A worker's gradient of the round, read in place: dense (`range` and its `values`) or sparse
    // (`indices` and their `values`).
    struct deposit {
      param_range range;
      std::span<const std::uint32_t> indices;
      std::span<const float> values;
    };

    // How many coordinates two ranges share.
    static std::size_t overlap(param_range a, param_range b) noexcept {
      const std::size_t lo = std::max(a.begin, b.begin), hi = std::min(a.end, b.end);
      return lo < hi ? hi - lo : 0;
    }

    // The pass before the gradient reads every slice: the others' from their cores (or from
    // memory, where they streamed them), its own from its cache unless it streamed it out (a
    // simulated run's charge for its lines; the pass's own time is theirs).
    void charge_slices_read() const {
      for (const param_range& slice : slices_) detail::charge_read_in_place(model_.data() + slice.begin, slice.size());
    }

    // The update of slice `own` with the mean of the round's deposits, a block at a time: the
    // mean of a block is summed in the first-level cache and applied from there, one pass over
    // the slice where a buffer of the whole mean took four. With other workers, whose next
    // gradients read the slice, its new values go out with streaming stores.
    template <class Dir>
    void step_with_mean(param_range own, Dir& dir, float step) {
      constexpr std::size_t block = 256;
      alignas(64) float mean[block];
      const float scale = 1.0f / static_cast<float>(workers_);
      float* x = model_.data();
      // Writes the new values of [a, b) to out[0, b - a).
      auto fill = [&](float* out, std::size_t a, std::size_t b) {
        for (std::size_t lo = a; lo < b; lo += block) {
          const std::size_t hi = std::min(lo + block, b);
          std::fill(mean, mean + (hi - lo), 0.0f);
          for (const deposit& dep : deposits_) {
            const std::size_t from = std::max(lo, dep.range.begin);
            const std::size_t to = std::min(hi, dep.range.end);
            for (std::size_t i = from; i < to; ++i) mean[i - lo] += dep.values[i - dep.range.begin];
          }
          for (std::size_t k = 0; k < hi - lo; ++k) mean[k] *= scale;
          for (std::size_t i = lo; i < hi; ++i) out[i - a] = x[i] - step * dir(i, mean[i - lo], x[i]);
        }
      };
      if (workers_ > 1) {
        detail::stream_fill(x, own.begin, own.end, fill);
      } else {
        fill(x + own.begin, own.begin, own.end);
      }
    }

    apply_result end_round(worker& w) {
      if (w.id == 0) ++version_;  // read by everyone only after the barrier below
      barrier_.arrive_and_wait();
      return {true, 0, 0};
    }

    std::size_t workers_;
    detail::float_buffer model_;
    std::vector<param_range> slices_;
    std::vector<deposit> deposits_;
    std::uint64_t version_ = 0;
    detail::barrier<> barrier_;
  };

  friend bool operator==(const synchronous&, const synchronous&) = default;
  friend std::ostream& operator<<(std::ostream& os, const synchronous&) { return os << "synchronous{}"; }
};

}  // namespace asgd::inline v0::consistency
