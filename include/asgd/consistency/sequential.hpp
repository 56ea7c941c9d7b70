#pragma once
/// @file
/// One thread, one model: plain SGD, the reference every other mode is compared with.

#include <asgd/detail/memory.hpp>
#include <asgd/detail/step.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string_view>

namespace asgd::inline v0::consistency {

/// Sequential SGD with one worker thread.
///
/// Guarantees: deterministic: the same seed and settings give the same model bit for bit.
/// Staleness is always 0. Non-guarantees: it uses one core.
struct sequential {
  using policy_kind = consistency_mode_tag;
  static constexpr std::string_view name = "sequential";
  static constexpr bool lockstep = false;
  static constexpr std::size_t max_workers = 1;
  /// The model is plain memory: an averaging round may mix only while the worker waits.
  static constexpr bool concurrent_mix = false;
  static constexpr bool simulatable = true;
  [[nodiscard]] constexpr bool replayable() const noexcept { return true; }

  class store {
   public:
    struct worker {};

    store(const sequential& /*mode*/, const store_config& config, std::span<const float> initial)
        : model_(config.dimension) {
      std::copy(initial.begin(), initial.end(), model_.data());
    }

    worker make_worker(std::size_t /*id*/) const noexcept { return {}; }
    detail::view_handle read(worker& /*w*/) const noexcept { return {model_.span(), version_}; }
    detail::reader_handle read_sparse(worker& /*w*/) const noexcept { return {model_reader(model_.span()), version_}; }

    template <class Dir, class Lr>
    apply_result apply(worker& /*w*/, detail::view_handle& /*h*/, param_range r, std::span<const float> g, Dir&& dir,
                       Lr&& lr) {
      detail::charge_update(r.size());
      detail::step_dense<detail::write_kind::plain>(model_.data(), r, g, dir, static_cast<float>(lr(0)));
      ++version_;
      return {true, 0, 0};
    }

    template <class Dir, class Lr>
    apply_result apply_sparse(worker& /*w*/, detail::reader_handle& /*h*/, std::span<const std::uint32_t> idx,
                              std::span<const float> g, Dir&& dir, Lr&& lr) {
      detail::charge_update(idx.size());
      detail::step_sparse<detail::write_kind::plain>(model_.data(), idx, g, dir, static_cast<float>(lr(0)));
      ++version_;
      return {true, 0, 0};
    }

    void finish(worker& /*w*/) noexcept {}
    /// Adds `delta` to the model; only while the worker waits (concurrent_mix is false).
    void mix(std::span<const float> delta) noexcept {
      detail::add_dense<detail::write_kind::plain>(model_.data(), delta);
    }
    /// Replaces the model by `values`; only while the worker waits.
    void assign(std::span<const float> values) noexcept {
      detail::charge_copy(values.size());
      std::copy(values.begin(), values.end(), model_.data());
    }
    void copy_to(std::span<float> out) const noexcept { std::copy_n(model_.data(), model_.size(), out.data()); }
    [[nodiscard]] std::uint64_t version() const noexcept { return version_; }
    [[nodiscard]] store_stats stats() const noexcept { return {}; }

   private:
    detail::float_buffer model_;
    std::uint64_t version_ = 0;
  };

  friend bool operator==(const sequential&, const sequential&) = default;
  friend std::ostream& operator<<(std::ostream& os, const sequential&) { return os << "sequential{}"; }
};

}  // namespace asgd::inline v0::consistency
