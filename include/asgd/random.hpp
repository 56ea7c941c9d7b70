#pragma once
/// @file
/// A small, fast random engine with distributions whose results are the same on every platform
/// and standard library (std::uniform_int_distribution and std::normal_distribution are not), so
/// a seed reproduces a run bit for bit anywhere.

#include <asgd/version.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace asgd::inline v0 {

/// xoshiro256** seeded through splitmix64 (Blackman and Vigna). Models
/// std::uniform_random_bit_generator. `stream` separates independent sequences from one seed
/// (one per worker, one per epoch, ...).
class rng {
 public:
  using result_type = std::uint64_t;

  explicit rng(std::uint64_t seed = 1, std::uint64_t stream = 0) noexcept {
    std::uint64_t z = seed ^ (0xD1B54A32D192ED03ull * (stream + 1));
    for (auto& s : state_) s = splitmix(z);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  /// Uniform in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject). n must be > 0.
  std::uint64_t below(std::uint64_t n) noexcept {
    u128 m = static_cast<u128>((*this)()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<u128>((*this)()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  /// The engine's complete state, for checkpoints: four state words, the kept normal value
  /// and whether one is kept.
  struct snapshot {
    std::uint64_t words[4];
    double spare;
    bool has_spare;
  };
  [[nodiscard]] snapshot save() const noexcept {
    return {{state_[0], state_[1], state_[2], state_[3]}, spare_, has_spare_};
  }
  void restore(const snapshot& s) noexcept {
    for (int i = 0; i < 4; ++i) state_[i] = s.words[i];
    spare_ = s.spare;
    has_spare_ = s.has_spare;
  }

  /// Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  double normal() noexcept {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u = 0.0;
    do u = uniform(); while (u == 0.0);
    const double r = std::sqrt(-2.0 * std::log(u));
    const double theta = 2.0 * std::numbers::pi * uniform();
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }

 private:
#if defined(__CUDACC__)
  using u128 = unsigned __int128;  // nvcc's front end takes no __extension__ before an alias
#else
  __extension__ using u128 = unsigned __int128;  // GCC and Clang; __extension__ keeps -Wpedantic quiet
#endif

  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static constexpr std::uint64_t splitmix(std::uint64_t& z) noexcept {
    z += 0x9E3779B97F4A7C15ull;
    std::uint64_t r = z;
    r = (r ^ (r >> 30)) * 0xBF58476D1CE4E5B9ull;
    r = (r ^ (r >> 27)) * 0x94D049BB133111EBull;
    return r ^ (r >> 31);
  }

  std::uint64_t state_[4]{};
  double spare_ = 0.0;
  bool has_spare_ = false;
};

/// Fisher-Yates shuffle with `rng::below`, identical on every platform (std::shuffle is not).
template <class RandomIt>
void shuffle(RandomIt first, RandomIt last, rng& g) noexcept {
  const auto n = static_cast<std::uint64_t>(last - first);
  for (std::uint64_t i = n; i > 1; --i) {
    const auto j = g.below(i);
    using std::swap;
    swap(first[static_cast<std::ptrdiff_t>(i - 1)], first[static_cast<std::ptrdiff_t>(j)]);
  }
}

}  // namespace asgd::inline v0
