#pragma once
/// @file
/// LPP-SGD: full steps during a warm-up, then full and partitioned steps in turn.

#include <asgd/detail/validate.hpp>
#include <asgd/select/split.hpp>
#include <asgd/checkpoint.hpp>
#include <asgd/types.hpp>

#include <ostream>
#include <string_view>

namespace asgd::inline v0::select {

/// LPP-SGD's schedule (Chatterjee, Kungurtsev, Alistarh; `train/LPPSGD.py`): every step is a
/// full step until epoch `warmup_epochs` ("prepassmepochs"); from then on each worker
/// alternates a full step with a step on its own part of the model (the `partitioned` split),
/// computing only that part's gradient when the problem supports it.
struct alternate_full_partial {
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "alternate_full_partial";

  double warmup_epochs = 1.0;  ///< >= 0

  struct state {
    param_range all;
    param_range own;
    bool partial = false;
  };
  [[nodiscard]] state make_state(const selection_context& ctx) const {
    detail::require_in(warmup_epochs, 0.0, 1e12, "select::alternate_full_partial", "warmup_epochs");
    return {{0, ctx.dimension}, split_layout(ctx.layout, ctx.workers)[ctx.worker], false};
  }
  [[nodiscard]] param_range select(state& s, const step_info& info) const noexcept {
    if (info.epoch < warmup_epochs) return s.all;
    const param_range r = s.partial ? s.own : s.all;
    s.partial = !s.partial;
    return r;
  }

  void save(const state& s, byte_writer& w) const { w.boolean(s.partial); }
  void load(state& s, byte_reader& r) const { s.partial = r.boolean(); }

  friend bool operator==(const alternate_full_partial&, const alternate_full_partial&) = default;
  friend std::ostream& operator<<(std::ostream& os, const alternate_full_partial& s) {
    return os << "alternate_full_partial{.warmup_epochs = " << s.warmup_epochs << '}';
  }
};

}  // namespace asgd::inline v0::select
