#pragma once
/// @file
/// IEEE 754 half precision: 16 bits per coordinate, round to nearest even.

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

/// Models travel as IEEE binary16 (1 sign, 5 exponent, 10 mantissa bits), rounded to nearest,
/// ties to even. Values beyond 65504 become infinities, values below 2^-24 round to zero
/// through the subnormals; NaN stays NaN.
///
/// Guarantees: deterministic; relative error at most 2^-11 in the normal range. Non-guarantees:
/// not unbiased; the 5-bit exponent overflows for large weights (use bf16 there).
struct fp16 {
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "fp16";

  [[nodiscard]] static std::uint16_t to_half(float f) noexcept {
    const auto u = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t exp = (u >> 23) & 0xffu;
    std::uint32_t mant = u & 0x7fffffu;
    if (exp == 0xff) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));  // inf, NaN
    const int e = static_cast<int>(exp) - 127 + 15;
    if (e >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);  // overflow: infinity
    if (e <= 0) {
      if (e < -10) return sign;  // below half the smallest subnormal: zero
      mant |= 0x800000u;         // the implicit bit, then shift into the subnormal range
      const auto shift = static_cast<unsigned>(14 - e);
      std::uint32_t h = mant >> shift;
      const std::uint32_t rest = mant & ((1u << shift) - 1);
      const std::uint32_t half = 1u << (shift - 1);
      if (rest > half || (rest == half && (h & 1u))) ++h;
      return static_cast<std::uint16_t>(sign | h);
    }
    std::uint32_t h = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
    const std::uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: correct
    return static_cast<std::uint16_t>(sign | h);
  }

  [[nodiscard]] static float to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = (std::uint32_t{h} & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
    if (exp == 0) {
      if (mant == 0) return std::bit_cast<float>(sign);
      int e = -14;  // subnormal: normalise
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --e;
      }
      mant &= 0x3ffu;
      return std::bit_cast<float>(sign | (static_cast<std::uint32_t>(e + 127) << 23) | (mant << 13));
    }
    return std::bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
  }

  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& /*g*/) const {
    detail::encode_16bit(x, out, to_half);
  }

  /// @throws std::invalid_argument when `bytes` is not 2 bytes per float of `out`.
  void decode(std::span<const std::byte> bytes, std::span<const float> /*reference*/, std::span<float> out) const {
    detail::decode_16bit("quantize::fp16", bytes, out, to_float);
  }

  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const noexcept { return 16 * n; }

  friend bool operator==(const fp16&, const fp16&) = default;
  friend std::ostream& operator<<(std::ostream& os, const fp16&) { return os << "fp16{}"; }
};

}  // namespace asgd::inline v0::quantize
