#pragma once
// Internal: a printable description of a policy or problem for reports and logs.

#include <asgd/version.hpp>

#include <ostream>
#include <sstream>
#include <string>

namespace asgd::inline v0::detail {

template <class T>
concept streamable = requires(std::ostream& os, const T& t) { os << t; };

/// `os << t` when T is printable, else T::name, else "custom".
template <class T>
std::string describe(const T& t) {
  if constexpr (streamable<T>) {
    std::ostringstream os;
    os << t;
    return os.str();
  } else if constexpr (requires { T::name; }) {
    return std::string(T::name);
  } else {
    return "custom";
  }
}

/// Calls t.validate() when T has it.
template <class T>
void validate_if_possible(const T& t) {
  if constexpr (requires { t.validate(); }) t.validate();
}

}  // namespace asgd::inline v0::detail
