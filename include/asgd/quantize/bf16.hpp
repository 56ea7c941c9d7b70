#pragma once
/// @file
/// bfloat16: the upper 16 bits of a float, rounded to nearest even.

#include <asgd/detail/bits.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::quantize {

/// Models travel as bfloat16 (1 sign, 8 exponent, 7 mantissa bits): float's range with 8
/// significant bits, rounded to nearest, ties to even; NaN stays NaN.
///
/// Guarantees: deterministic; relative error at most 2^-8; no overflow that float would not
/// have. Non-guarantees: not unbiased.
struct bf16 {
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "bf16";

  [[nodiscard]] static std::uint16_t to_bf16(float f) noexcept {
    const auto u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) != 0)
      return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
    const std::uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
    return static_cast<std::uint16_t>((u + rounding) >> 16);
  }
  [[nodiscard]] static float to_float(std::uint16_t b) noexcept {
    return std::bit_cast<float>(std::uint32_t{b} << 16);
  }

  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& /*g*/) const {
    detail::encode_16bit(x, out, to_bf16);
  }

  /// @throws std::invalid_argument when `bytes` is not 2 bytes per float of `out`.
  void decode(std::span<const std::byte> bytes, std::span<const float> /*reference*/, std::span<float> out) const {
    detail::decode_16bit("quantize::bf16", bytes, out, to_float);
  }

  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const noexcept { return 16 * n; }

  friend bool operator==(const bf16&, const bf16&) = default;
  friend std::ostream& operator<<(std::ostream& os, const bf16&) { return os << "bf16{}"; }
};

}  // namespace asgd::inline v0::quantize
