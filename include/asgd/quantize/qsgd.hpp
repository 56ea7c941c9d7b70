#pragma once
/// @file
/// QSGD: unbiased stochastic rounding to a few levels per bucket norm.

#include <asgd/detail/bits.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <bit>
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
    if (byte_aligned()) {
      encode_aligned(x, out, g);
      return;
    }
    detail::bit_writer w(out);
    for (std::size_t lo = 0; lo < x.size(); lo += bucket) {
      const auto part = x.subspan(lo, std::min(bucket, x.size() - lo));
      const float norm = bucket_norm(part, lo);
      w.put_float(norm);
      const double scale = level_scale(norm);
      for (float v : part) w.put(field(v, scale, g), Bits);
    }
  }

  /// @throws std::invalid_argument when `bytes` is not `encoded_bits(out.size())` rounded up to bytes.
  void decode(std::span<const std::byte> bytes, std::span<const float> /*reference*/, std::span<float> out) const {
    validate();
    detail::require_encoded_size("quantize::qsgd", bytes.size(), encoded_bits(out.size()), out.size());
    if (byte_aligned()) {
      decode_aligned(bytes, out);
      return;
    }
    detail::bit_reader r(bytes, "quantize::qsgd");
    for (std::size_t lo = 0; lo < out.size(); lo += bucket) {
      const std::size_t hi = std::min(out.size(), lo + bucket);
      const float unit = r.get_float() / static_cast<float>(levels);
      for (std::size_t i = lo; i < hi; ++i) out[i] = value(r.get(Bits), unit);
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

 private:
  static float bucket_norm(std::span<const float> part, std::size_t at) {
    double sq = 0.0;
    for (float v : part) sq += static_cast<double>(v) * static_cast<double>(v);
    const auto norm = static_cast<float>(std::sqrt(sq));
    if (!std::isfinite(norm)) {
      throw std::invalid_argument("asgd: quantize::qsgd cannot encode a bucket with a non-finite value (at " +
                                  std::to_string(at) + ")");
    }
    return norm;
  }
  // Levels are taken against the norm as sent, so decoding is unbiased for the float norm.
  static double level_scale(float norm) {
    return norm > 0.0f ? static_cast<double>(levels) / static_cast<double>(norm) : 0.0;
  }
  // A coordinate's field: its sign bit above its level, rounded up with probability r - l.
  static std::uint32_t field(float v, double scale, rng& g) {
    const double r = std::min(static_cast<double>(levels), std::fabs(static_cast<double>(v)) * scale);
    const double l = std::floor(r);
    // Without branches: the rounding is a coin flip the branch predictor cannot learn.
    const std::uint32_t level = static_cast<std::uint32_t>(l) + static_cast<std::uint32_t>(g.uniform() < r - l);
    const std::uint32_t sign = static_cast<std::uint32_t>(std::signbit(v)) & static_cast<std::uint32_t>(level > 0);
    return (sign << (Bits - 1)) | level;
  }
  static float value(std::uint32_t f, float unit) {
    const float v = unit * static_cast<float>(f & levels);
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(v) ^ ((f >> (Bits - 1)) << 31));  // -v for the sign
  }

  // The same wire format without the bit packer, when every bucket starts on a byte and fields
  // are whole bytes or nibbles (qsgd<4>, <8>, <16> with the default bucket): a field per byte,
  // two per byte low nibble first, or two bytes little-endian; the norm as 4 bytes little-endian.
  [[nodiscard]] bool byte_aligned() const noexcept {
    return (Bits == 4 || Bits == 8 || Bits == 16) && (bucket * Bits) % 8 == 0;
  }
  void encode_aligned(std::span<const float> x, std::vector<std::byte>& out, rng& caller) const {
    rng g = caller;  // a local engine: stores through the byte pointer cannot alias it
    const std::size_t start = out.size();
    out.resize(start + (encoded_bits(x.size()) + 7) / 8);
    auto* p = reinterpret_cast<unsigned char*>(out.data() + start);
    for (std::size_t lo = 0; lo < x.size(); lo += bucket) {
      const auto part = x.subspan(lo, std::min(bucket, x.size() - lo));
      const float norm = bucket_norm(part, lo);
      const auto u = std::bit_cast<std::uint32_t>(norm);
      for (int b = 0; b < 4; ++b) *p++ = static_cast<unsigned char>(u >> (8 * b));
      const double scale = level_scale(norm);
      if constexpr (Bits == 8) {
        for (float v : part) *p++ = static_cast<unsigned char>(field(v, scale, g));
      } else if constexpr (Bits == 16) {
        for (float v : part) {
          const std::uint32_t f = field(v, scale, g);
          *p++ = static_cast<unsigned char>(f);
          *p++ = static_cast<unsigned char>(f >> 8);
        }
      } else {
        std::size_t i = 0;
        for (; i + 1 < part.size(); i += 2) {
          const std::uint32_t a = field(part[i], scale, g);
          *p++ = static_cast<unsigned char>(a | (field(part[i + 1], scale, g) << 4));
        }
        if (i < part.size()) *p++ = static_cast<unsigned char>(field(part[i], scale, g));  // the last, padded
      }
    }
    caller = g;
  }
  void decode_aligned(std::span<const std::byte> bytes, std::span<float> out) const {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    for (std::size_t lo = 0; lo < out.size(); lo += bucket) {
      const std::size_t hi = std::min(out.size(), lo + bucket);
      std::uint32_t u = 0;
      for (int b = 0; b < 4; ++b) u |= std::uint32_t{*p++} << (8 * b);
      const float unit = std::bit_cast<float>(u) / static_cast<float>(levels);
      if constexpr (Bits == 8) {
        for (std::size_t i = lo; i < hi; ++i) out[i] = value(*p++, unit);
      } else if constexpr (Bits == 16) {
        for (std::size_t i = lo; i < hi; ++i, p += 2) out[i] = value(p[0] | (std::uint32_t{p[1]} << 8), unit);
      } else {
        std::size_t i = lo;
        for (; i + 1 < hi; i += 2, ++p) {
          out[i] = value(*p & 0xfu, unit);
          out[i + 1] = value(*p >> 4, unit);
        }
        if (i < hi) out[i] = value(*p++ & 0xfu, unit);
      }
    }
  }
};

}  // namespace asgd::inline v0::quantize
