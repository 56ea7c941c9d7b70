#pragma once
/// @file
/// 8-bit QSGD for device models: the per-coordinate math, shared by the kernel in
/// <asgd/cuda/quantize.cuh> and the host reference here. The encoding is byte for byte the wire
/// format of the host `quantize::qsgd<8>` (per bucket: the L2 norm as a little-endian float,
/// then one byte per coordinate, sign in the top bit, level 0..127 below), so host and device
/// nodes decode each other's messages. What differs is the random stream: the device draws
/// coordinate i's rounding from a hash of (seed, i), which a GPU evaluates in parallel, where
/// the host quantizer draws from one sequential engine. Host-only code may include this header.

#include <asgd/cuda/rules.hpp>  // ASGD_HOST_DEVICE

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::cuda {

inline constexpr std::uint32_t qsgd8_levels = 127;  ///< s = 2^(8-1) - 1, as quantize::qsgd<8>

/// Uniform in [0, 1) with 53 bits, from (seed, i) alone: splitmix64's finaliser of seed and i.
ASGD_HOST_DEVICE inline double hashed_uniform(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

/// One coordinate's byte: level floor(r) or floor(r) + 1 with probability r - floor(r), where
/// r = min(s, |v| scale) and scale = s / norm (0 for a zero bucket); sign bit only when level > 0.
ASGD_HOST_DEVICE inline std::uint8_t qsgd8_field(float v, double scale, double u) {
  const double a = v < 0.0f ? -static_cast<double>(v) : static_cast<double>(v);
  const double r = a * scale < static_cast<double>(qsgd8_levels) ? a * scale : static_cast<double>(qsgd8_levels);
  const double l = floor(r);
  auto level = static_cast<std::uint32_t>(l);
  if (u < r - l) ++level;
  const std::uint32_t sign = v < 0.0f && level > 0 ? 1u : 0u;  // level > 0 means v is not a zero
  return static_cast<std::uint8_t>((sign << 7) | level);
}

/// Bytes of the encoding of n coordinates in buckets of `bucket`: 4 per bucket plus 1 per coordinate.
inline std::size_t qsgd8_encoded_bytes(std::size_t n, std::size_t bucket) {
  return n + 4 * ((n + bucket - 1) / bucket);
}

/// The most blocks a kernel grid holds in x (compute capability 3.0 and later: 2^31 - 1).
inline constexpr std::size_t max_grid_blocks = 2147483647;

/// The device encoder's grid: one block per bucket of `bucket` coordinates among n.
/// @throws std::invalid_argument when there are more buckets than a grid holds.
inline unsigned qsgd8_grid_blocks(std::size_t n, std::size_t bucket) {
  if (bucket == 0) throw std::invalid_argument("asgd: cuda::qsgd8: the bucket must hold at least 1 coordinate");
  const std::size_t buckets = n / bucket + (n % bucket != 0 ? 1 : 0);
  if (buckets > max_grid_blocks) {
    throw std::invalid_argument("asgd: cuda::qsgd8_encoder: " + std::to_string(buckets) + " buckets of " +
                                std::to_string(bucket) + " coordinates, more than the " +
                                std::to_string(max_grid_blocks) + " blocks a grid holds: use larger buckets");
  }
  return static_cast<unsigned>(buckets);
}

/// The host reference of the device encoder: bucket norms summed in double in index order (the
/// kernel sums in another order, so a norm may differ in its last bit), then qsgd8_field with
/// hashed_uniform(seed, i).
/// @throws std::invalid_argument for bucket 0 or a bucket with a non-finite value.
inline void qsgd8_reference_encode(std::span<const float> x, std::size_t bucket, std::uint64_t seed,
                                   std::vector<std::byte>& out) {
  if (bucket == 0) throw std::invalid_argument("asgd: cuda::qsgd8: the bucket must hold at least 1 coordinate");
  out.assign(qsgd8_encoded_bytes(x.size(), bucket), std::byte{0});
  std::size_t at = 0;
  for (std::size_t lo = 0; lo < x.size(); lo += bucket) {
    const std::size_t hi = std::min(x.size(), lo + bucket);
    double sq = 0.0;
    for (std::size_t i = lo; i < hi; ++i) sq += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    const auto norm = static_cast<float>(std::sqrt(sq));
    if (!std::isfinite(norm)) {
      throw std::invalid_argument("asgd: cuda::qsgd8 cannot encode a bucket with a non-finite value (at " +
                                  std::to_string(lo) + ")");
    }
    std::memcpy(out.data() + at, &norm, 4);  // little-endian, as the host bit_writer writes it
    at += 4;
    const double scale = norm > 0.0f ? static_cast<double>(qsgd8_levels) / static_cast<double>(norm) : 0.0;
    for (std::size_t i = lo; i < hi; ++i) out[at++] = std::byte{qsgd8_field(x[i], scale, hashed_uniform(seed, i))};
  }
}

}  // namespace asgd::inline v0::cuda
