#pragma once
/// @file
/// No quantization: models travel as 32-bit floats.

#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstring>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::quantize {

/// The default quantizer: the bytes of the floats, unchanged (32 bits per coordinate).
struct identity {
  using policy_kind = quantizer_tag;
  static constexpr std::string_view name = "identity";

  void encode(std::span<const float> x, std::vector<std::byte>& out, rng& /*g*/) const {
    // A range insert copies the bytes in one pass (a resize would zero them first).
    const auto* bytes = reinterpret_cast<const std::byte*>(x.data());
    out.insert(out.end(), bytes, bytes + x.size_bytes());
  }

  /// @throws std::invalid_argument when `bytes` does not hold exactly `out.size()` floats.
  void decode(std::span<const std::byte> bytes, std::span<const float> /*reference*/, std::span<float> out) const {
    if (bytes.size() != out.size_bytes()) {
      throw std::invalid_argument("asgd: quantize::identity cannot decode " + std::to_string(bytes.size()) +
                                  " bytes into " + std::to_string(out.size()) + " floats");
    }
    std::memcpy(out.data(), bytes.data(), bytes.size());
  }

  [[nodiscard]] std::size_t encoded_bits(std::size_t n) const noexcept { return 32 * n; }

  friend bool operator==(const identity&, const identity&) = default;
  friend std::ostream& operator<<(std::ostream& os, const identity&) { return os << "identity{}"; }
};

}  // namespace asgd::inline v0::quantize
