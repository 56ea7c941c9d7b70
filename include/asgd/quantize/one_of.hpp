#pragma once
/// @file
/// A quantizer chosen at run time from a fixed set.

#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::quantize {

/// One of the quantizers `Qs...`, chosen at run time: `one_of<identity, qsgd<8>> q = qsgd<8>{};`.
/// The averager visits the choice once per round, so the identity still takes the all-reduce
/// path of `topology::all_reduce`. Reports name the quantizer held.
template <quantizer... Qs>
class one_of : public detail::policy_choice<Qs...> {
 public:
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "one_of";
  using detail::policy_choice<Qs...>::policy_choice;

  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& g) const {
    this->visit([&](const auto& q) { q.encode(x, out, g); });
  }
  void decode(std::span<const std::byte> bytes, std::span<const float> reference, std::span<float> out) const {
    this->visit([&](const auto& q) { q.decode(bytes, reference, out); });
  }
  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const {
    return this->visit([&](const auto& q) { return static_cast<std::size_t>(q.encoded_bits(n)); });
  }
  /// The held quantizer's `variance_bound(n)`, 0 for one without it.
  [[nodiscard]] double variance_bound(std::size_t n) const {
    return this->visit([&](const auto& q) -> double {
      if constexpr (requires { q.variance_bound(n); }) {
        return q.variance_bound(n);
      } else {
        return 0.0;
      }
    });
  }
};

}  // namespace asgd::inline v0::quantize
