#pragma once
// Internal: the checks that turn a bad knob into std::invalid_argument naming the field.

#include <asgd/detail/config.hpp>
#include <asgd/version.hpp>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asgd::inline v0::detail {

/// Throws std::invalid_argument "asgd: <where>.<field> = <value>: <why>" unless `ok`.
template <class V>
void require(bool ok, std::string_view where, std::string_view field, const V& value, std::string_view why) {
  if (ok) return;
  std::ostringstream os;
  os << "asgd: " << where << '.' << field << " = " << value << ": " << why;
  throw std::invalid_argument(os.str());
}

/// Throws what require_in throws for `v`.
[[noreturn]] ASGD_DECL void throw_not_in(double v, double lo, double hi, std::string_view where,
                                         std::string_view field);

/// A finite float in [lo, hi].
inline void require_in(double v, double lo, double hi, std::string_view where, std::string_view field) {
  if (!(std::isfinite(v) && v >= lo && v <= hi)) throw_not_in(v, lo, hi, where, field);
}

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/validate.ipp>
#endif
