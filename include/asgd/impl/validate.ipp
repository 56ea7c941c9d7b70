#pragma once
// The definitions of <asgd/detail/validate.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/validate.hpp>

namespace asgd::inline v0::detail {

ASGD_DECL void throw_not_in(double v, double lo, double hi, std::string_view where, std::string_view field) {
  std::ostringstream os;
  os << "asgd: " << where << '.' << field << " = " << v << ": must be a finite number in [" << lo << ", " << hi
     << "]";
  throw std::invalid_argument(os.str());
}

}  // namespace asgd::inline v0::detail
