#pragma once
/// @file
/// QSGD: unbiased stochastic rounding to a few levels per bucket norm.

#include <asgd/detail/bits.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::quantize {

/// QSGD (Alistarh, Grubic, Li, Tomioka, Vojnovic; NIPS 2017) with `Bits` bits per coordinate:
/// a sign and a level in [0, s], s = 2^(Bits-1) - 1 (so qsgd<8> has 127 levels). The vector is
/// cut into buckets of `bucket` coordinates; each bucket sends its L2 norm N as a float and
/// each coordinate v the level l + xi, where l = floor(s |v| / N) and xi is 1 with probability
/// s |v| / N - l (stochastic rounding). It decodes to sign(v) N (l + xi) / s.
///
/// Guarantees: unbiased, E[Q(v)] = v; per-coordinate variance (N/s)^2 p (1 - p) with
/// p = s |v| / N - l, at most N^2 / (4 s^2); exactly `encoded_bits(n)` = Bits n + 32 buckets
/// bits. Non-guarantees: a model (not a gradient) has a large norm, so small coordinates are
/// mostly sent as 0 or one level; the randomness comes from the caller's engine.
template <unsigned Bits = 8>
struct qsgd {
  static_assert(Bits >= 2 && Bits <= 16,
                "asgd: quantize::qsgd<Bits> needs 2 <= Bits <= 16 (a sign bit and at least one level bit); "
                "see docs/policies/quantize.md");
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "qsgd";
  static constexpr unsigned bits = Bits;
  static constexpr std::uint32_t levels = (1u << (Bits - 1)) - 1;  ///< s

  std::size_t bucket = 512;  ///< coordinates per norm, >= 1

  void validate() const {
    if (bucket == 0) throw std::invalid_argument("asgd: quantize::qsgd{.bucket = 0}: must be at least 1");
  }

  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& g) const {
    validate();
    detail::bit_writer w(out);
    for (std::size_t lo = 0; lo < x.size(); lo += bucket) {
      const auto part = x.subspan(lo, std::min(bucket, x.size() - lo));
      double sq = 0.0;
      for (float v : part) sq += static_cast<double>(v) * static_cast<double>(v);
      const auto norm = static_cast<float>(std::sqrt(sq));
      if (!std::isfinite(norm)) {
        throw std::invalid_argument("asgd: quantize::qsgd cannot encode a bucket with a non-finite value (at " +
                                    std::to_string(lo) + ")");
      }
      w.put_float(norm);
      // Levels are taken against the norm as sent, so decoding is unbiased for the float norm.
      const double scale = norm > 0.0f ? static_cast<double>(levels) / static_cast<double>(norm) : 0.0;
      for (float v : part) {
        const double r = std::min(static_cast<double>(levels), std::fabs(static_cast<double>(v)) * scale);
        const double l = std::floor(r);
        auto level = static_cast<std::uint32_t>(l);
        if (g.uniform() < r - l) ++level;
        const std::uint32_t sign = std::signbit(v) && level > 0 ? 1u : 0u;
        w.put((sign << (Bits - 1)) | level, Bits);
      }
    }
  }

  /// @throws std::invalid_argument when `bytes` is not `encoded_bits(out.size())` rounded up to bytes.
  void decode(std::span<const std::byte> bytes, std::span<const float> /*reference*/, std::span<float> out) const {
    validate();
    detail::require_encoded_size("quantize::qsgd", bytes.size(), encoded_bits(out.size()), out.size());
    detail::bit_reader r(bytes, "quantize::qsgd");
    constexpr std::uint32_t level_mask = levels;
    for (std::size_t lo = 0; lo < out.size(); lo += bucket) {
      const std::size_t hi = std::min(out.size(), lo + bucket);
      const float unit = r.get_float() / static_cast<float>(levels);
      for (std::size_t i = lo; i < hi; ++i) {
        const std::uint32_t field = r.get(Bits);
        const float v = unit * static_cast<float>(field & level_mask);
        out[i] = (field >> (Bits - 1)) != 0 ? -v : v;
      }
    }
  }

  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const noexcept {
    const std::size_t b = bucket == 0 ? 1 : bucket;
    return Bits * n + 32 * ((n + b - 1) / b);
  }

  /// omega with E|Q(v) - v|^2 <= omega |v|^2 for any v of n floats: QSGD's bound min(b / s^2,
  /// sqrt(b) / s) for a bucket of b = min(bucket, n) coordinates (Alistarh et al., Lemma 3.1).
  [[nodiscard]] double variance_bound(std::size_t n) const noexcept {
    const auto b = static_cast<double>(std::max<std::size_t>(1, std::min(bucket == 0 ? 1 : bucket, n)));
    const auto s = static_cast<double>(levels);
    return std::min(b / (s * s), std::sqrt(b) / s);
  }

  friend bool operator==(const qsgd&, const qsgd&) = default;
  friend std::ostream& operator<<(std::ostream& os, const qsgd& q) {
    return os << "qsgd<" << Bits << ">{.bucket = " << q.bucket << '}';
  }
};

}  // namespace asgd::inline v0::quantize
