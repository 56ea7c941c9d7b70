// Quantizers: exact round trips where promised, IEEE rounding for fp16/bf16, QSGD unbiased
// with the variance its formula gives, the lattice quantizer exact near its reference, and
// every encoding exactly as long as encoded_bits() says.

#include "../support.hpp"

#include <asgd/detail/bits.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

namespace {

namespace q = asgd::quantize;

template <class Q>
std::vector<float> round_trip(const Q& quant, const std::vector<float>& x, const std::vector<float>& reference,
                              asgd::rng& g) {
  std::vector<std::byte> bytes;
  quant.encode(x, bytes, g);
  CHECK(bytes.size() == (quant.encoded_bits(x.size()) + 7) / 8);
  std::vector<float> out(x.size());
  quant.decode(bytes, reference, out);
  return out;
}

}  // namespace

TEST_SUITE("quantize") {
  TEST_CASE("quantize::identity round-trips floats at 32 bits each") {
    q::identity quant;
    const std::vector<float> x{1.5f, -2.0f, 3.25f};
    std::vector<std::byte> bytes{std::byte{7}};  // encode appends
    asgd::rng g;
    quant.encode(x, bytes, g);
    CHECK(bytes.size() == 1 + 12);
    std::vector<float> out(3);
    quant.decode(std::span<const std::byte>(bytes).subspan(1), x, out);
    CHECK(out == x);
    CHECK(quant.encoded_bits(3) == 96);
    CHECK_THROWS_WITH_AS(quant.decode(std::span<const std::byte>(bytes), x, out),
                         doctest::Contains("13 bytes into 3 floats"), std::invalid_argument);
  }

  TEST_CASE("quantize::fp16 rounds to nearest even, saturates to infinity, keeps NaN") {
    using h = q::fp16;
    for (float v : {0.0f, -0.0f, 1.0f, -2.5f, 65504.0f, 0x1p-14f, 0x1p-24f, 1024.0f + 1.0f}) {
      CAPTURE(v);
      CHECK(h::to_float(h::to_half(v)) == v);  // exactly representable
    }
    CHECK(std::signbit(h::to_float(h::to_half(-0.0f))));
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    CHECK(h::to_float(h::to_half(1.0f + 0x1p-11f)) == 1.0f);
    CHECK(h::to_float(h::to_half(1.0f + 3 * 0x1p-11f)) == 1.0f + 2 * 0x1p-10f);
    CHECK(h::to_float(h::to_half(1.0f + 0x1p-11f + 0x1p-20f)) == 1.0f + 0x1p-10f);
    CHECK(std::isinf(h::to_float(h::to_half(70000.0f))));
    CHECK(h::to_float(h::to_half(65519.0f)) == 65504.0f);  // below the rounding boundary
    CHECK(std::isinf(h::to_float(h::to_half(65520.0f))));  // at it: rounds up to infinity
    CHECK(std::isnan(h::to_float(h::to_half(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(h::to_float(h::to_half(0x1p-26f)) == 0.0f);        // below half the smallest subnormal
    CHECK(h::to_float(h::to_half(0x1.8p-24f)) == 0x1p-23f);  // 1.5 subnormal units round to 2 (even)
    // Against the compiler's own conversion, where it has one; else the error bound.
    asgd::rng g(5);
    for (int k = 0; k < 20000; ++k) {
      const auto v = static_cast<float>(std::ldexp(g.uniform() * 2.0 - 1.0, static_cast<int>(g.below(40)) - 28));
#if defined(__FLT16_MAX__) && !defined(__clang__)
      CHECK(h::to_float(h::to_half(v)) == static_cast<float>(static_cast<_Float16>(v)));
#endif
      if (std::fabs(v) >= 0x1p-14f) CHECK(std::fabs(h::to_float(h::to_half(v)) - v) <= std::fabs(v) * 0x1p-11f);
    }
    const std::vector<float> x{0.5f, -3.0f, 1e-3f};
    const auto out = round_trip(q::fp16{}, x, x, g);
    CHECK(out[0] == 0.5f);
    CHECK(out[2] == doctest::Approx(1e-3).epsilon(1e-3));
    CHECK(q::fp16{}.encoded_bits(10) == 160);
  }

  TEST_CASE("quantize::bf16 keeps float's range with 8 significant bits") {
    using b = q::bf16;
    CHECK(b::to_float(b::to_bf16(1.0f)) == 1.0f);
    CHECK(b::to_float(b::to_bf16(1e30f)) == doctest::Approx(1e30).epsilon(1e-2));
    CHECK(b::to_float(b::to_bf16(1.0f + 0x1p-8f)) == 1.0f);                  // a tie: to even
    CHECK(b::to_float(b::to_bf16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);    // a tie: to even (up)
    CHECK(std::isnan(b::to_float(b::to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(std::isinf(b::to_float(b::to_bf16(std::numeric_limits<float>::infinity()))));
    asgd::rng g(6);
    for (int k = 0; k < 10000; ++k) {
      const auto v = static_cast<float>(g.normal() * 100.0);
      CHECK(std::fabs(b::to_float(b::to_bf16(v)) - v) <= std::fabs(v) * 0x1p-8f);
    }
  }

  TEST_CASE("quantize::qsgd is unbiased and its variance is (N/s)^2 p (1-p)") {
    const q::qsgd<4> quant{.bucket = 16};  // 7 levels: coarse, so the variance is large
    static_assert(q::qsgd<4>::levels == 7 && q::qsgd<8>::levels == 127);
    asgd::rng data(9);
    std::vector<float> x(40);
    for (auto& v : x) v = static_cast<float>(data.normal());
    x[3] = 0.0f;
    // The formula, per coordinate, from the bucket norms.
    std::vector<double> expected_var(x.size());
    for (std::size_t lo = 0; lo < x.size(); lo += quant.bucket) {
      const std::size_t hi = std::min(x.size(), lo + quant.bucket);
      double sq = 0.0;
      for (std::size_t i = lo; i < hi; ++i) sq += double(x[i]) * x[i];
      const double norm = static_cast<float>(std::sqrt(sq));
      for (std::size_t i = lo; i < hi; ++i) {
        const double r = 7.0 * std::fabs(x[i]) / norm;
        const double p = r - std::floor(r);
        expected_var[i] = (norm / 7.0) * (norm / 7.0) * p * (1.0 - p);
      }
    }
    constexpr int draws = 20000;
    std::vector<double> sum(x.size(), 0.0), sum2(x.size(), 0.0);
    asgd::rng g(10);
    for (int k = 0; k < draws; ++k) {
      std::vector<std::byte> bytes;
      quant.encode(x, bytes, g);
      REQUIRE(bytes.size() == (40 * 4 + 3 * 32 + 7) / 8);
      std::vector<float> out(x.size());
      quant.decode(bytes, x, out);
      for (std::size_t i = 0; i < x.size(); ++i) {
        sum[i] += out[i];
        sum2[i] += double(out[i]) * out[i];
      }
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      CAPTURE(i);
      const double mean = sum[i] / draws;
      const double var = sum2[i] / draws - mean * mean;
      // Unbiased: the mean of 20000 draws is within 5 standard errors of x_i.
      CHECK(std::fabs(mean - x[i]) <= 5.0 * std::sqrt(expected_var[i] / draws) + 1e-6);
      // The variance matches the formula to within 10% (plus float rounding of the levels).
      CHECK(std::fabs(var - expected_var[i]) <= 0.1 * expected_var[i] + 1e-6);
    }
    CHECK(sum[3] == 0.0);  // zero stays zero
    CHECK(q::qsgd<8>{}.encoded_bits(1000) == 8 * 1000 + 2 * 32);
    CHECK_THROWS_WITH_AS(q::qsgd<8>{.bucket = 0}.validate(), doctest::Contains("bucket = 0"), std::invalid_argument);
    std::vector<float> out(5);
    CHECK_THROWS_WITH_AS(q::qsgd<8>{}.decode(std::vector<std::byte>(3), out, out), doctest::Contains("expects 9"),
                         std::invalid_argument);
  }

  TEST_CASE("quantize::differences damps an unbiased quantizer by its variance bound, so each step shrinks the error") {
    // QSGD's bound: min(b / s^2, sqrt(b) / s) for buckets of b, s levels.
    CHECK(q::qsgd<4>{}.variance_bound(100000) == doctest::Approx(std::sqrt(512.0) / 7.0));
    CHECK(q::qsgd<8>{}.variance_bound(100000) == doctest::Approx(512.0 / (127.0 * 127.0)));
    CHECK(q::qsgd<4>{}.variance_bound(4) == doctest::Approx(4.0 / 49.0));  // a bucket no longer than the vector
    using diff4 = q::differences<q::qsgd<4>>;
    const double omega = q::qsgd<4>{}.variance_bound(2048);
    CHECK(diff4{}.damping(2048) == doctest::Approx(1.0 / (1.0 + omega)));
    CHECK(q::differences<q::fp16>{}.damping(2048) == 1.0);  // deterministic: no bound, no damping
    const q::differences<q::one_of<q::fp16, q::qsgd<4>>> held{.of = q::qsgd<4>{}};
    CHECK(held.damping(2048) == diff4{}.damping(2048));
    CHECK(held.encoded_bits(2048) == q::qsgd<4>{}.encoded_bits(2048));

    // Error feedback's condition: E|v - D(Q(v))|^2 <= (1 - delta) |v|^2, delta = 1 / (1 + omega),
    // for a Gaussian difference of 2048 floats over 500 draws; 4-bit QSGD alone breaks it.
    asgd::rng data(21), g(22);
    std::vector<float> v(2048);
    double norm2 = 0.0;
    for (auto& x : v) {
      x = static_cast<float>(data.normal());
      norm2 += double(x) * x;
    }
    double damped = 0.0, plain = 0.0;
    constexpr int draws = 500;
    std::vector<float> out(v.size()), inner(v.size());
    const auto scale = static_cast<float>(diff4{}.damping(v.size()));
    std::size_t undamped = 0;
    for (int k = 0; k < draws; ++k) {
      std::vector<std::byte> bytes;
      diff4{}.encode(v, bytes, g);
      diff4{}.decode(bytes, v, out);
      q::qsgd<4>{}.decode(bytes, v, inner);
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (out[i] != scale * inner[i]) ++undamped;
        damped += std::pow(double(v[i]) - out[i], 2.0) / draws;
        plain += std::pow(double(v[i]) - inner[i], 2.0) / draws;
      }
    }
    MESSAGE("|v - D(Q(v))|^2 / |v|^2 = " << damped / norm2 << " (bound " << omega / (1.0 + omega)
                                         << "); undamped " << plain / norm2);
    CHECK(undamped == 0);  // decode is the inner decode times the damping
    CHECK(damped <= omega / (1.0 + omega) * norm2);
    CHECK(plain > norm2);  // the undamped step would grow the error it feeds back
  }

  TEST_CASE("quantize::qsgd's byte-aligned encoder writes the packed format: a norm, then sign-and-level fields") {
    // Whole-byte and nibble fields in byte-aligned buckets take a path without the bit packer;
    // both paths' bytes must read back as the packed format (fields LSB first), including a last,
    // partial bucket with an odd count of nibbles, and decode to the floats it holds.
    const auto check = [](const auto& quant, std::size_t n) {
      constexpr unsigned bits = std::decay_t<decltype(quant)>::bits;
      CAPTURE(bits);
      CAPTURE(n);
      asgd::rng data(n), g(7);
      std::vector<float> x(n);
      for (auto& v : x) v = static_cast<float>(data.normal());
      if (n > 1) x[1] = -x[1];
      std::vector<std::byte> bytes;
      quant.encode(x, bytes, g);
      REQUIRE(bytes.size() == (quant.encoded_bits(n) + 7) / 8);
      std::vector<float> fast(n);
      quant.decode(bytes, x, fast);
      asgd::detail::bit_reader r(bytes, "test");
      constexpr std::uint32_t levels = (1u << (bits - 1)) - 1;
      for (std::size_t lo = 0; lo < n; lo += quant.bucket) {
        const float norm = r.get_float();
        double sq = 0.0;
        for (std::size_t i = lo; i < std::min(n, lo + quant.bucket); ++i) sq += double(x[i]) * x[i];
        CHECK(norm == static_cast<float>(std::sqrt(sq)));
        for (std::size_t i = lo; i < std::min(n, lo + quant.bucket); ++i) {
          const std::uint32_t field = r.get(bits);
          const float v = norm / static_cast<float>(levels) * static_cast<float>(field & levels);
          CHECK(fast[i] == ((field >> (bits - 1)) != 0 ? -v : v));
          CHECK(std::fabs(fast[i] - x[i]) <= norm / static_cast<float>(levels) * 1.0001f);  // one level at most
          if (fast[i] != 0.0f) CHECK(std::signbit(fast[i]) == std::signbit(x[i]));
        }
      }
    };
    for (std::size_t n : {1u, 7u, 600u, 1025u}) {
      check(q::qsgd<8>{}, n);
      check(q::qsgd<4>{}, n);
      check(q::qsgd<16>{.bucket = 100}, n);
      check(q::qsgd<4>{.bucket = 6}, n);
      check(q::qsgd<4>{.bucket = 3}, n);  // buckets off byte boundaries: the packer's path
      check(q::qsgd<5>{.bucket = 8}, n);
    }
  }

  TEST_CASE("quantize::qsgd with many levels is close, and exact on the bucket's largest value") {
    asgd::rng g(12);
    const std::vector<float> x{3.0f, 0.0f, 0.0f, 4.0f};  // norm 5
    const auto out = round_trip(q::qsgd<8>{.bucket = 4}, x, x, g);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::fabs(out[i] - x[i]) <= 5.0f / 127.0f + 1e-6f);
    const std::vector<float> single{-2.0f};  // |v| = norm: always the top level
    CHECK(round_trip(q::qsgd<8>{}, single, single, g)[0] == doctest::Approx(-2.0).epsilon(1e-6));
  }

  TEST_CASE("quantize::lattice decodes exactly near its reference and refuses far from it") {
    const q::lattice nearest{.epsilon = 0.01, .bits = 8, .dither = false};  // q = 256 cells: a window of +-1.27
    const q::lattice dithered{.epsilon = 0.01, .bits = 8};
    asgd::rng g(13);
    std::vector<float> x(200), ref(200);
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<float>(g.normal() * 5.0);
      ref[i] = x[i] + static_cast<float>((g.uniform() * 2.0 - 1.0) * 1.2);  // within eps (q/2 - 1) = 1.27
    }
    const auto out = round_trip(nearest, x, ref, g);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::fabs(out[i] - x[i]) <= 0.005f + 1e-5f);
    const auto rounded = round_trip(dithered, x, ref, g);  // up or down: within one cell
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::fabs(rounded[i] - x[i]) < 0.01f + 1e-5f);
    CHECK(nearest.encoded_bits(200) == 1600 + 32);  // 8 bits a coordinate, a check per 256
    CHECK(q::lattice{.bits = 8, .check_every = 64}.encoded_bits(200) == 1600 + 4 * 32);
    CHECK(q::lattice{.bits = 8, .check_every = 0}.encoded_bits(200) == 1600);

    // A reference 2 away from coordinate 70: its nearest point with the same residue is 2.56 off.
    // The block's hash says so; without the check it decodes silently wrong.
    std::vector<float> far = ref;
    far[70] = x[70] + 2.0f;
    std::vector<std::byte> bytes;
    std::vector<float> decoded(x.size());
    nearest.encode(x, bytes, g);
    CHECK_THROWS_WITH_AS(nearest.decode(bytes, far, decoded),
                         doctest::Contains("coordinates [0, 200) decode outside their window"), std::range_error);
    const q::lattice unchecked{.epsilon = 0.01, .bits = 8, .dither = false, .check_every = 0};
    const auto wrong = round_trip(unchecked, x, far, g);
    CHECK(std::fabs(wrong[70] - x[70]) == doctest::Approx(2.56).epsilon(0.01));
    bytes.clear();
    const q::lattice blocks{.epsilon = 0.01, .bits = 8, .check_every = 64};
    blocks.encode(x, bytes, g);
    CHECK_THROWS_WITH_AS(blocks.decode(bytes, far, decoded), doctest::Contains("coordinates [64, 128)"),
                         std::range_error);
    std::vector<float> lost = ref;
    lost[3] = std::numeric_limits<float>::quiet_NaN();  // a diverged reference fails the check, no UB
    CHECK_THROWS_AS(blocks.decode(bytes, lost, decoded), std::range_error);
    CHECK_THROWS_WITH_AS(q::lattice{.epsilon = 0}.validate(), doctest::Contains("epsilon"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(q::lattice{.bits = 30}.validate(), doctest::Contains("[2, 24]"), std::invalid_argument);
    bytes.clear();
    const std::vector<float> nan{std::numeric_limits<float>::quiet_NaN()};
    CHECK_THROWS_WITH_AS(nearest.encode(nan, bytes, g), doctest::Contains("at 0 (non-finite"),
                         std::invalid_argument);
    // A bad value late in the model leaves what the output held before.
    bytes.assign(3, std::byte{7});
    std::vector<float> late = x;
    late[150] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(dithered.encode(late, bytes, g), doctest::Contains("at 150 (non-finite"),
                         std::invalid_argument);
    CHECK(bytes == std::vector<std::byte>(3, std::byte{7}));
  }

  TEST_CASE("quantize::lattice writes each index mod 2^bits as a packed little-endian field, any width") {
    // Integer values on a lattice of 1 without dither: the indices are the values themselves.
    std::vector<float> x(203);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i * 37 % 1001) - 500);
    asgd::rng g(5);
    for (unsigned bits : {2u, 5u, 8u, 13u, 16u, 24u}) {
      CAPTURE(bits);
      const q::lattice l{.epsilon = 1.0, .bits = bits, .dither = false, .check_every = 0};
      std::vector<std::byte> bytes{std::byte{9}}, expected{std::byte{9}};
      l.encode(x, bytes, g);
      {
        asgd::detail::bit_writer w(expected);
        for (float v : x) w.put(static_cast<std::uint32_t>(static_cast<std::int64_t>(v)) & ((1u << bits) - 1), bits);
      }
      CHECK(bytes == expected);
      std::vector<float> out(x.size());
      l.decode(std::span<const std::byte>(bytes).subspan(1), x, out);
      CHECK(out == x);
    }
  }

  TEST_CASE("quantize::lattice with dither is unbiased; rounding to the nearest point is not") {
    // v = 0.1234 on a lattice of 0.01: the nearest point is 0.12 (biased by 0.0034); dithered
    // rounding gives 0.12 or 0.13 with probabilities 0.66 and 0.34, mean v (standard error of the
    // mean of 20,000: 3.4e-5).
    const std::vector<float> v{0.1234f};
    asgd::rng g(17);
    double dithered = 0.0, nearest = 0.0;
    constexpr int n = 20000;
    for (int i = 0; i < n; ++i) {
      dithered += round_trip(q::lattice{.epsilon = 0.01, .bits = 8}, v, v, g)[0];
      nearest += round_trip(q::lattice{.epsilon = 0.01, .bits = 8, .dither = false}, v, v, g)[0];
    }
    CHECK(dithered / n == doctest::Approx(0.1234).epsilon(2e-4 / 0.1234));
    CHECK(nearest / n == doctest::Approx(0.12).epsilon(1e-6));
  }
}
