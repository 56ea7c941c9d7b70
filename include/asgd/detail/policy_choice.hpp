#pragma once
// Internal: the value behind topology::one_of, quantize::one_of and transport::one_of: one of
// several policies of a kind, chosen at run time, so a tool can offer every policy with one
// trainer instantiation instead of one per choice.

#include <asgd/detail/describe.hpp>

#include <cstddef>
#include <ostream>
#include <type_traits>
#include <utility>
#include <variant>

namespace asgd::inline v0::detail {

template <class... Ts>
class policy_choice {
 public:
  static_assert(sizeof...(Ts) >= 1, "asgd: one_of needs at least one policy");

  /// The first alternative, default-constructed.
  policy_choice() = default;

  /// Holds `p`, one of the alternatives.
  template <class T>
    requires(std::is_same_v<std::remove_cvref_t<T>, Ts> || ...)
  policy_choice(T&& p) : choice_(std::forward<T>(p)) {}  // NOLINT(google-explicit-constructor): a choice is its value

  /// Calls `f` with the policy held.
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), choice_);
  }
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), choice_);
  }

  /// The position of the policy held among `Ts...`.
  [[nodiscard]] std::size_t index() const noexcept { return choice_.index(); }

  /// The alternative at position I; only while it is the one held (index() == I).
  template <std::size_t I>
  [[nodiscard]] const auto& alternative() const noexcept {
    return *std::get_if<I>(&choice_);
  }

  /// True when the policy held is a `T`.
  template <class T>
  [[nodiscard]] bool holds() const noexcept {
    return std::holds_alternative<T>(choice_);
  }

  /// Validates the policy held, when it can be validated.
  void validate() const {
    visit([](const auto& p) { validate_if_possible(p); });
  }

  /// Prints the policy held (reports name the choice, not the wrapper).
  friend std::ostream& operator<<(std::ostream& os, const policy_choice& c) {
    c.visit([&](const auto& p) { os << describe(p); });
    return os;
  }

 private:
  std::variant<Ts...> choice_;
};

/// `f(p.visit-ed policy)` for a choice, `f(p)` for a plain policy.
template <class P, class F>
decltype(auto) with_chosen(P& p, F&& f) {
  if constexpr (requires { p.visit(f); }) {
    return p.visit(std::forward<F>(f));
  } else {
    return std::forward<F>(f)(p);
  }
}

}  // namespace asgd::inline v0::detail
