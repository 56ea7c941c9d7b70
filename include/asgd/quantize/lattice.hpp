#pragma once
/// @file
/// SwarmSGD's reference-point (lattice, modulo) quantizer.

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

/// The quantizer of SwarmSGD (Nadiradze et al., NeurIPS 2021; the authors' code): a value v is
/// sent as its lattice index m, v / epsilon rounded, modulo q = 2^bits, and the receiver picks,
/// among the lattice points with that residue, the one nearest to its own model (the reference):
///   Enc(v) = m mod q,   Dec(c, ref) = eps (c + q round((ref / eps - c) / q)).
/// It works because gossiping models stay close to each other. With `dither` (the paper's
/// choice) m rounds v / eps up or down at random, in proportion to the distance, so the decoded
/// value is unbiased; without it m is the nearest index. Every `check_every` coordinates carry a
/// 32-bit hash of their full indices m, so a receiver whose reference is too far from a
/// coordinate, which would silently decode it to a wrong lattice point, throws instead.
///
/// Guarantees: Dec(Enc(v), ref) = eps m, with |eps m - v| < eps (dither; E[eps m] = v) or
/// <= eps / 2 (nearest), whenever |v - ref| < eps (q / 2 - 1); exactly `bits` bits per coordinate
/// plus 32 per `check_every`; a decode outside that window throws std::range_error naming the
/// coordinates (unless a block's hash collides: about one in 2^32; `check_every = 0` turns the
/// check off, and such a decode is then silently off by a multiple of eps q).
struct lattice {
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "lattice";

  double epsilon = 1e-4;           ///< lattice cell size, > 0
  unsigned bits = 16;              ///< bits per coordinate (q = 2^bits), 2 .. 24
  bool dither = true;              ///< round at random, unbiased (the paper's); false: to the nearest point
  std::size_t check_every = 256;   ///< coordinates per 32-bit hash of their lattice indices (0: no check)

  void validate() const {
    if (!(epsilon > 0.0 && std::isfinite(epsilon))) {
      throw std::invalid_argument("asgd: quantize::lattice{.epsilon = " + std::to_string(epsilon) +
                                  "}: must be a finite number > 0");
    }
    if (bits < 2 || bits > 24) {
      throw std::invalid_argument("asgd: quantize::lattice{.bits = " + std::to_string(bits) + "}: must be in [2, 24]");
    }
  }

  /// @throws std::invalid_argument for a value it cannot encode (`out` then as it was)
  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& g) const {
    validate();
    // Locals, which the writer's byte stores cannot alias (sized_bit_writer).
    const double eps = epsilon;
    const unsigned width = bits;
    const bool random = dither;
    const std::uint64_t mask = (std::uint64_t{1} << width) - 1;
    const std::size_t n = x.size(), at = out.size();
    const std::size_t block = check_every > 0 ? check_every : n;  // the coordinates of one check
    rng draws = g;
    detail::sized_bit_writer w(out, (encoded_bits(n) + 7) / 8);
    for (std::size_t lo = 0; lo < n; lo += block) {
      const std::size_t hi = std::min(n, lo + block);
      std::uint64_t hash = 0;
      for (std::size_t i = lo; i < hi; ++i) {
        const double scaled = static_cast<double>(x[i]) / eps;
        if (!std::isfinite(x[i]) || !(std::fabs(scaled) < 0x1p52)) [[unlikely]] {
          out.resize(at);
          g = draws;
          throw std::invalid_argument("asgd: quantize::lattice cannot encode the value " + std::to_string(x[i]) +
                                      " at " + std::to_string(i) + " (non-finite, or |v| / epsilon >= 2^52)");
        }
        const auto m =
            static_cast<std::int64_t>(random ? std::floor(scaled + draws.uniform()) : std::nearbyint(scaled));
        w.put(static_cast<std::uint32_t>(static_cast<std::uint64_t>(m) & mask), width);  // m mod q, also below 0
        hash = add_index(hash, m);
      }
      if (check_every > 0) {
        const std::uint32_t check = finish(hash);
        w.put(check & 0xffffu, 16);
        w.put(check >> 16, 16);
      }
    }
    w.flush();
    g = draws;
  }

  /// @throws std::invalid_argument when the sizes of `bytes`, `reference` and `out` disagree;
  ///         std::range_error when a checked block decodes outside its window
  void decode(std::span<const std::byte> bytes, std::span<const float> reference, std::span<float> out) const {
    validate();
    detail::require_encoded_size("quantize::lattice", bytes.size(), encoded_bits(out.size()), out.size());
    if (reference.size() != out.size()) {
      throw std::invalid_argument("asgd: quantize::lattice: the reference has " + std::to_string(reference.size()) +
                                  " floats, the output " + std::to_string(out.size()));
    }
    const double q = std::ldexp(1.0, static_cast<int>(bits));
    const double per_q = 1.0 / q;  // a power of two: multiplying by it divides exactly
    const std::size_t n = out.size();
    const std::size_t block = check_every > 0 ? check_every : n;
    detail::sized_bit_reader r(bytes);  // its size checked above
    for (std::size_t lo = 0; lo < n; lo += block) {
      const std::size_t hi = std::min(n, lo + block);
      std::uint64_t hash = 0;
      for (std::size_t i = lo; i < hi; ++i) {
        const double c = r.get(bits);
        const double m = c + q * std::nearbyint((static_cast<double>(reference[i]) / epsilon - c) * per_q);
        out[i] = static_cast<float>(epsilon * m);
        // An index no encoder writes (from a non-finite or huge reference) fails the check.
        hash = add_index(hash, std::fabs(m) < 0x1p52 ? static_cast<std::int64_t>(m) : std::int64_t{1} << 60);
      }
      if (check_every == 0) continue;
      const std::uint32_t low = r.get(16);
      const std::uint32_t sent = low | (r.get(16) << 16);
      if (sent != finish(hash)) {
        throw std::range_error("asgd: quantize::lattice: coordinates [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + ") decode outside their window: one or more lies farther "
                               "than about epsilon * 2^bits / 2 = " + std::to_string(epsilon * q / 2) +
                               " from the receiver's model, so its lattice point is ambiguous (the models "
                               "differ more than the quantizer allows: raise epsilon or bits)");
      }
    }
  }

  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const noexcept {
    return std::size_t{bits} * n + (check_every > 0 ? 32 * ((n + check_every - 1) / check_every) : 0);
  }

  friend bool operator==(const lattice&, const lattice&) = default;
  friend std::ostream& operator<<(std::ostream& os, const lattice& q) {
    return os << "lattice{.epsilon = " << q.epsilon << ", .bits = " << q.bits
              << ", .dither = " << (q.dither ? "true" : "false") << ", .check_every = " << q.check_every << '}';
  }

 private:
  // A block's check: h <- h K + m over its indices (K odd, so one wrong index, off by j q, always
  // changes h), then splitmix64's finaliser, whose top 32 bits are sent.
  static constexpr std::uint64_t add_index(std::uint64_t h, std::int64_t m) noexcept {
    return h * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(m);
  }
  static constexpr std::uint32_t finish(std::uint64_t h) noexcept {
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    return static_cast<std::uint32_t>((h ^ (h >> 31)) >> 32);
  }
};

}  // namespace asgd::inline v0::quantize
