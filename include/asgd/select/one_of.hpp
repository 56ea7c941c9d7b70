#pragma once
/// @file
/// A block selector chosen at run time from a fixed set.

#include <asgd/checkpoint.hpp>
#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace asgd::inline v0::select {

/// One of the block selectors `Ss...`, chosen at run time:
/// `one_of<full, partitioned> s = partitioned{};`. A command-line tool or a sweep then compiles
/// one trainer for every choice instead of one per selector. Each worker's state holds the state
/// of the selector held; a step finds the selector held (a compare per alternative before it),
/// then selects as that selector does, so the ranges are the same, step for step. Checkpointable when every `Ss` is;
/// reports name the selector held.
template <block_selector... Ss>
class one_of : public detail::policy_choice<Ss...> {
 public:
  using policy_kind = block_selector_tag;
  static constexpr std::string_view name = "one_of";
  using detail::policy_choice<Ss...>::policy_choice;

  /// The state of the selector held, at the same position among the alternatives.
  using state = std::variant<typename Ss::state...>;

  [[nodiscard]] state make_state(const selection_context& ctx) const { return make_state_from<0>(ctx); }

  [[nodiscard]] param_range select(state& s, const step_info& info) const {
    return on_held(s, [&](const auto& selector, auto& st) { return selector.select(st, info); });
  }

  void save(const state& s, byte_writer& w) const
    requires(checkpointable_policy<Ss> && ...)
  {
    on_held(s, [&](const auto& selector, const auto& st) { selector.save(st, w); });
  }
  void load(state& s, byte_reader& r) const
    requires(checkpointable_policy<Ss> && ...)
  {
    on_held(s, [&](const auto& selector, auto& st) { selector.load(st, r); });
  }

 private:
  template <std::size_t I>
  state make_state_from(const selection_context& ctx) const {
    if constexpr (I + 1 < sizeof...(Ss)) {
      if (this->index() != I) return make_state_from<I + 1>(ctx);
    }
    return state(std::in_place_index<I>, this->template alternative<I>().make_state(ctx));
  }

  // f(selector held, its state in `s`); a state made by another one_of's choice is refused.
  template <class State, class F>
  decltype(auto) on_held(State& s, F&& f) const {
    if (s.index() != this->index()) {
      throw std::logic_error("asgd: select::one_of: a worker's state belongs to another selector than the one held");
    }
    return dispatch(s, f, std::make_index_sequence<sizeof...(Ss)>{});
  }
  template <class State, class F, std::size_t First, std::size_t... Rest>
  decltype(auto) dispatch(State& s, F& f, std::index_sequence<First, Rest...>) const {
    if constexpr (sizeof...(Rest) == 0) {
      return f(this->template alternative<First>(), *std::get_if<First>(&s));
    } else {
      if (this->index() == First) return f(this->template alternative<First>(), *std::get_if<First>(&s));
      return dispatch(s, f, std::index_sequence<Rest...>{});
    }
  }
};

}  // namespace asgd::inline v0::select
