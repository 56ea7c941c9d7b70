#pragma once
/// @file
/// Model differences against a reference both ends of a link keep, with error feedback.

#include <asgd/concepts.hpp>
#include <asgd/detail/describe.hpp>
#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::quantize {

/// Sends, in place of a node's model x, the difference x - r against a reference r that sender
/// and receiver both keep for that direction of the link, encoded by `Q`; both then add the
/// decoded difference to r. The receiver's estimate of the sender's model is r, and what a
/// message did not carry (x - r after it) goes out with the next difference: error feedback, so
/// quantization errors do not pile up, and a difference, being small, loses little to `Q`
/// (CHOCO-SGD's public copies: Koloskova, Stich, Jaggi, ICML 2019; here one per link, so that
/// graphs that change from round to round keep them in step). The averager holds the references
/// (zero at the start) and mixes x + sum_k w_k (r_in[k] - r_out[k]) (docs/policies/quantize.md):
/// the plain mix once the references are exact, and a round with symmetric weights keeps the sum
/// of the models exactly, whatever `Q`'s error.
///
/// For round-based topologies over a transport with `exchange_each` (concept
/// asgd::per_peer_exchange_transport). Gossip topologies refuse it: a published copy is read by
/// whichever node picks its owner, at any time, so no reader keeps a reference in step with it
/// (`lattice`, which decodes against the reader's own model, is gossip's answer).
template <quantizer Q>
struct differences {
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "differences";
  static constexpr bool shared_reference = true;  ///< the averager keeps a reference per link

  Q of{};  ///< how each difference is encoded

  void validate() const { detail::validate_if_possible(of); }

  /// Encodes a difference x - r.
  void encode(std::span<const float> difference, std::vector<std::byte>& out, rng& g) const {
    of.encode(difference, out, g);
  }
  /// Decodes a difference, times `damping(n)`; `guess` is the receiver's own x - r (a
  /// reference-point `Q` decodes against it).
  void decode(std::span<const std::byte> bytes, std::span<const float> guess, std::span<float> out) const {
    of.decode(bytes, guess, out);
    const auto scale = static_cast<float>(damping(out.size()));
    if (scale != 1.0f)
      for (float& v : out) v *= scale;
  }

  /// 1 / (1 + omega) for a `Q` with `variance_bound(n)` = omega (an unbiased quantizer whose
  /// error E|Q(v) - v|^2 is at most omega |v|^2), else 1. Error feedback needs a step that
  /// shrinks the difference it sends, E|v - step|^2 <= (1 - delta) |v|^2 with delta > 0; Q alone
  /// gives that only for omega < 1 (4-bit QSGD over buckets of 512 has omega 3.2, and its
  /// references ran away within 350 steps), Q / (1 + omega) always, with delta = 1 / (1 + omega)
  /// (CHOCO-SGD's scaled compressors).
  [[nodiscard]] double damping(std::size_t n) const {
    if constexpr (requires { of.variance_bound(n); }) {
      return 1.0 / (1.0 + static_cast<double>(of.variance_bound(n)));
    } else {
      return 1.0;
    }
  }
  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const { return of.encoded_bits(n); }

  friend bool operator==(const differences&, const differences&) = default;
  friend std::ostream& operator<<(std::ostream& os, const differences& d) {
    return os << "differences<" << detail::describe(d.of) << '>';
  }
};

}  // namespace asgd::inline v0::quantize
