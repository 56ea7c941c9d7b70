#pragma once
/// @file
/// SwarmSGD's reference-point (lattice, modulo) quantizer.

#include <asgd/detail/bits.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

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
/// sent as its lattice cell round(v / epsilon) modulo q = 2^bits, and the receiver picks, among
/// the lattice points with that residue, the one nearest to its own model (the reference):
///   Enc(v) = round(v / eps) mod q,   Dec(c, ref) = eps (c + q round((ref / eps - c) / q)).
/// It works because gossiping models stay close to each other.
///
/// Guarantees: |Dec(Enc(v), ref) - v| <= epsilon / 2 whenever |v - ref| < epsilon (q - 1) / 2;
/// exactly `bits` bits per coordinate. Non-guarantees: a coordinate farther than that from the
/// reference decodes to a wrong lattice point (off by a multiple of eps q); not unbiased.
struct lattice {
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "lattice";

  double epsilon = 1e-4;  ///< lattice cell size, > 0
  unsigned bits = 16;     ///< bits per coordinate (q = 2^bits), 2 .. 24

  void validate() const {
    if (!(epsilon > 0.0 && std::isfinite(epsilon))) {
      throw std::invalid_argument("asgd: quantize::lattice{.epsilon = " + std::to_string(epsilon) +
                                  "}: must be a finite number > 0");
    }
    if (bits < 2 || bits > 24) {
      throw std::invalid_argument("asgd: quantize::lattice{.bits = " + std::to_string(bits) + "}: must be in [2, 24]");
    }
  }

  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& /*g*/) const {
    validate();
    const double q = std::ldexp(1.0, static_cast<int>(bits));
    detail::bit_writer w(out);
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!std::isfinite(x[i])) {
        throw std::invalid_argument("asgd: quantize::lattice cannot encode the non-finite value at " +
                                    std::to_string(i));
      }
      double c = std::fmod(std::nearbyint(static_cast<double>(x[i]) / epsilon), q);
      if (c < 0.0) c += q;
      w.put(static_cast<std::uint32_t>(c), bits);
    }
  }

  /// @throws std::invalid_argument when the sizes of `bytes`, `reference` and `out` disagree.
  void decode(std::span<const std::byte> bytes, std::span<const float> reference, std::span<float> out) const {
    validate();
    detail::require_encoded_size("quantize::lattice", bytes.size(), encoded_bits(out.size()), out.size());
    if (reference.size() != out.size()) {
      throw std::invalid_argument("asgd: quantize::lattice: the reference has " + std::to_string(reference.size()) +
                                  " floats, the output " + std::to_string(out.size()));
    }
    const double q = std::ldexp(1.0, static_cast<int>(bits));
    detail::bit_reader r(bytes, "quantize::lattice");
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double c = r.get(bits);
      const double k = std::nearbyint((static_cast<double>(reference[i]) / epsilon - c) / q);
      out[i] = static_cast<float>(epsilon * (c + q * k));
    }
  }

  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const noexcept { return std::size_t{bits} * n; }

  friend bool operator==(const lattice&, const lattice&) = default;
  friend std::ostream& operator<<(std::ostream& os, const lattice& q) {
    return os << "lattice{.epsilon = " << q.epsilon << ", .bits = " << q.bits << '}';
  }
};

}  // namespace asgd::inline v0::quantize
