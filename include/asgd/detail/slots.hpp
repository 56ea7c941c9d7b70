#pragma once
// Internal: sorting the trainer's template arguments into policy slots by their tag.
//
// Each error below is a class template whose name reads as a sentence and whose template
// arguments are the offending types, so the compiler's "In instantiation of ..." line names
// them; the static_assert inside gives the message, which starts with "asgd:".

#include <asgd/types.hpp>

#include <cstddef>
#include <type_traits>

namespace asgd::inline v0::detail {

template <class...>
inline constexpr bool dependent_false = false;

template <class... Ts>
struct type_list {};

template <class... Lists>
struct concat;
template <>
struct concat<> {
  using type = type_list<>;
};
template <class... As>
struct concat<type_list<As...>> {
  using type = type_list<As...>;
};
template <class... As, class... Bs, class... Rest>
struct concat<type_list<As...>, type_list<Bs...>, Rest...> {
  using type = typename concat<type_list<As..., Bs...>, Rest...>::type;
};

template <class T>
concept has_any_policy_kind = requires { typename T::policy_kind; };

template <class T, class Tag>
inline constexpr bool is_kind = [] {
  if constexpr (has_any_policy_kind<T>)
    return std::is_same_v<typename T::policy_kind, Tag>;
  else
    return false;
}();

template <class Tag, class... Ts>
using arguments_of_kind =
    typename concat<std::conditional_t<is_kind<Ts, Tag>, type_list<Ts>, type_list<>>...>::type;

// A trainer argument without `policy_kind`. Fix: pass an asgd policy, or give your own policy
// `using policy_kind = asgd::<kind>_tag;`.
template <class Argument>
struct trainer_argument_is_not_an_asgd_policy {
  static_assert(dependent_false<Argument>,
                "asgd: a trainer argument is not a policy (it has no member type `policy_kind`); a policy declares "
                "`using policy_kind = asgd::update_rule_tag` (or block_selector_tag, consistency_mode_tag, "
                "averaging_topology_tag, transport_tag, quantizer_tag). See docs/concepts.md");
};

// A trainer argument whose `policy_kind` is none of the six tags.
template <class Argument, class Kind>
struct trainer_argument_has_an_unknown_policy_kind {
  static_assert(dependent_false<Argument, Kind>,
                "asgd: a trainer argument's `policy_kind` is not one of asgd::update_rule_tag, block_selector_tag, "
                "consistency_mode_tag, averaging_topology_tag, transport_tag, quantizer_tag. See docs/concepts.md");
};

// Two trainer arguments for one slot; the instantiation names the slot and both types.
template <class SlotTag, class First, class Second>
struct policy_given_twice_for_one_slot {
  static_assert(dependent_false<SlotTag, First, Second>,
                "asgd: two trainer arguments fill the same policy slot; keep one of them (the types are named in "
                "policy_given_twice_for_one_slot<slot, first, second> above). See docs/concepts.md");
};

template <class T>
constexpr bool check_argument() {
  if constexpr (!has_any_policy_kind<T>) {
    return sizeof(trainer_argument_is_not_an_asgd_policy<T>) == 0;
  } else if constexpr (!(is_kind<T, update_rule_tag> || is_kind<T, block_selector_tag> ||
                         is_kind<T, consistency_mode_tag> || is_kind<T, averaging_topology_tag> ||
                         is_kind<T, transport_tag> || is_kind<T, quantizer_tag>)) {
    return sizeof(trainer_argument_has_an_unknown_policy_kind<T, typename T::policy_kind>) == 0;
  } else {
    return true;
  }
}

template <class Tag, class Default, class Matches>
struct pick_slot;
template <class Tag, class Default>
struct pick_slot<Tag, Default, type_list<>> {
  using type = Default;
};
template <class Tag, class Default, class T>
struct pick_slot<Tag, Default, type_list<T>> {
  using type = T;
};
template <class Tag, class Default, class First, class Second, class... Rest>
struct pick_slot<Tag, Default, type_list<First, Second, Rest...>> {
  static_assert(sizeof(policy_given_twice_for_one_slot<Tag, First, Second>) == 0, "asgd: see the error above");
  using type = First;
};

/// The argument among Ts... whose tag is Tag, or Default when there is none.
template <class Tag, class Default, class... Ts>
using slot_t = typename pick_slot<Tag, Default, arguments_of_kind<Tag, Ts...>>::type;

}  // namespace asgd::inline v0::detail
