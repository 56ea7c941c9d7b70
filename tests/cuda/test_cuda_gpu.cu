// The kernels on a GPU (label gpu): each update rule and write mode against the host reference,
// concurrent workers on their own streams, refused launches; the quantizer kernels against the
// host quantizers' bits and the qsgd8 host reference; the Thrust reduction. Without a CUDA device the
// program says so and exits with 77, which CTest reports as skipped.

#define DOCTEST_CONFIG_IMPLEMENT
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/quantize.cuh>
#include <asgd/cuda/reduce.cuh>
#include <asgd/cuda/update.cuh>
#include <asgd/quantize/bf16.hpp>
#include <asgd/quantize/fp16.hpp>
#include <asgd/quantize/qsgd.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

namespace {

namespace cu = asgd::cuda;

using asgd_test::random_floats;

struct fill_op {
  float* x;
  float value;
  __device__ void operator()(std::size_t i) const { x[i] = value; }
};

// Within a few float roundings: the GPU may fuse x - lr * d into one multiply-add.
void check_close(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::fabs(got[i] - want[i]) > 1e-5f * (1.0f + std::fabs(want[i]))) ++bad;
  CHECK(bad == 0);
}

template <class Write, class Rule>
void check_against_reference(const Rule& rule) {
  constexpr std::size_t dimension = 100'000;
  const auto math = cu::device_math(rule);
  std::vector<float> x = random_floats(dimension, 1), buffer(dimension, 0.0f);
  cu::device_array<float> dx{std::span<const float>(x)}, dbuf{std::span<const float>(buffer)};
  for (unsigned step = 0; step < 4; ++step) {
    const std::size_t lo = 20'000 * step, n = 50'000;
    const auto g = random_floats(n, 7 + step);
    cu::device_array<float> dg{std::span<const float>(g)};
    cu::update_block<Write>(math, dx.data(), dimension, lo, dg.data(), n, dbuf.data(), 0.05f, nullptr);
    cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    cu::reference_update(math, std::span<float>(x), lo, std::span<const float>(g), buffer, 0.05f);
  }
  check_close(dx.download(), x);
  if constexpr (decltype(math)::has_buffer) check_close(dbuf.download(), buffer);
}

}  // namespace

TEST_SUITE("gpu") {
  TEST_CASE("update kernels match the host reference for every rule and write mode") {
    check_against_reference<cu::hogwild_writes>(asgd::update::sgd{.weight_decay = 1e-3f});
    check_against_reference<cu::hogwild_writes>(asgd::update::momentum{.mu = 0.9f});
    check_against_reference<cu::hogwild_writes>(asgd::update::nesterov{.mu = 0.9f, .weight_decay = 5e-4f});
    check_against_reference<cu::atomic_add_writes>(asgd::update::sgd{});
    check_against_reference<cu::atomic_add_writes>(asgd::update::momentum{.mu = 0.5f, .weight_decay = 1e-3f});
    check_against_reference<cu::atomic_add_writes>(asgd::update::nesterov{.mu = 0.9f});
  }

  TEST_CASE("atomic_add: workers on 8 streams writing one block lose no update") {
    // Plain SGD: each step is -lr g whatever x is, so the sum of all workers' steps is known.
    constexpr std::size_t dimension = 1 << 16, workers = 8, steps = 16;
    const auto math = cu::device_math(asgd::update::sgd{});
    std::vector<float> x(dimension, 0.0f);
    cu::device_array<float> dx{std::span<const float>(x)};
    std::vector<cudaStream_t> streams(workers);
    for (auto& s : streams) cu::check("cudaStreamCreate", cudaStreamCreate(&s));
    const std::vector<float> ones(dimension, 1.0f);
    cu::device_array<float> dg{std::span<const float>(ones)};
    for (std::size_t step = 0; step < steps; ++step)
      for (std::size_t w = 0; w < workers; ++w)
        cu::update_block<cu::atomic_add_writes>(math, dx.data(), dimension, 0, dg.data(), dimension, nullptr, 0.25f,
                                                streams[w]);
    cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    for (auto s : streams) cudaStreamDestroy(s);
    const auto got = dx.download();
    std::size_t wrong = 0;
    const float want = -0.25f * static_cast<float>(workers * steps);  // exact: multiples of 1/4
    for (float v : got)
      if (v != want) ++wrong;
    CHECK(wrong == 0);
  }

  TEST_CASE("a launch with a block outside the model or no buffer is refused") {
    cu::device_array<float> dx(10), dg(4);
    const auto momentum = cu::device_math(asgd::update::momentum{});
    CHECK_THROWS_AS(cu::update_block<cu::hogwild_writes>(momentum, dx.data(), 10, 7, dg.data(), 4, dx.data(), 0.1f,
                                                         nullptr),
                    std::invalid_argument);
    CHECK_THROWS_AS(cu::update_block<cu::hogwild_writes>(momentum, dx.data(), 10, 0, dg.data(), 4, nullptr, 0.1f,
                                                         nullptr),
                    std::invalid_argument);
  }
}

TEST_SUITE("gpu") {
  TEST_CASE("fp16 and bf16 kernels give the host quantizers' bits") {
    auto x = random_floats(100'000, 5);
    for (std::size_t i = 0; i < x.size(); i += 7) x[i] *= 1e5f;    // beyond fp16's range: infinities
    for (std::size_t i = 3; i < x.size(); i += 11) x[i] *= 1e-7f;  // fp16 subnormals and zeros
    cu::device_array<float> dx{std::span<const float>(x)}, back(x.size());
    cu::device_array<std::uint16_t> bits(x.size());
    for (const bool half : {true, false}) {
      CAPTURE(half);
      if (half) {
        cu::encode_fp16(dx.data(), x.size(), bits.data(), nullptr);
        cu::decode_fp16(bits.data(), x.size(), back.data(), nullptr);
      } else {
        cu::encode_bf16(dx.data(), x.size(), bits.data(), nullptr);
        cu::decode_bf16(bits.data(), x.size(), back.data(), nullptr);
      }
      cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
      const auto got = bits.download();
      const auto decoded = back.download();
      std::size_t wrong_bits = 0, wrong_values = 0;
      for (std::size_t i = 0; i < x.size(); ++i) {
        const std::uint16_t want = half ? asgd::quantize::fp16::to_half(x[i]) : asgd::quantize::bf16::to_bf16(x[i]);
        const float want_value = half ? asgd::quantize::fp16::to_float(want) : asgd::quantize::bf16::to_float(want);
        if (got[i] != want) ++wrong_bits;
        if (std::memcmp(&decoded[i], &want_value, sizeof(float)) != 0) ++wrong_values;
      }
      CHECK(wrong_bits == 0);
      CHECK(wrong_values == 0);
    }
  }

  TEST_CASE("qsgd8 kernel: the host reference's bytes, decoded by the kernel and the host alike") {
    const std::size_t n = 300'001, bucket = 512;
    const auto x = random_floats(n, 9);
    std::vector<std::byte> reference;
    cu::qsgd8_reference_encode(x, bucket, 11, reference);
    cu::device_array<float> dx{std::span<const float>(x)}, decoded(n);
    cu::device_array<std::uint8_t> bytes(cu::qsgd8_encoded_bytes(n, bucket));
    cu::qsgd8_encoder encoder(bucket);
    encoder.encode(dx.data(), n, 11, bytes.data(), nullptr);
    cu::decode_qsgd8(bytes.data(), n, bucket, decoded.data(), nullptr);
    cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    encoder.check();
    const auto got = bytes.download();
    REQUIRE(got.size() == reference.size());
    // The kernel sums a bucket's squares in another order: a norm may differ in its last bit,
    // and then a coordinate may round to the neighbouring level. Nearly every byte is equal.
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differ += got[i] != static_cast<std::uint8_t>(reference[i]) ? 1 : 0;
    CHECK(differ * 1000 < got.size());
    std::vector<std::byte> as_bytes(got.size());
    std::memcpy(as_bytes.data(), got.data(), got.size());
    std::vector<float> host_decoded(n);
    asgd::quantize::qsgd<8>{.bucket = bucket}.decode(as_bytes, x, host_decoded);
    const auto device_decoded = decoded.download();
    std::size_t mismatched = 0;
    for (std::size_t i = 0; i < n; ++i) mismatched += device_decoded[i] != host_decoded[i] ? 1 : 0;
    CHECK(mismatched == 0);
  }

  TEST_CASE("qsgd8 kernel: a non-finite bucket is reported by check(), naming the bucket") {
    std::vector<float> x(2048, 0.25f);
    x[1500] = std::numeric_limits<float>::quiet_NaN();
    cu::device_array<float> dx{std::span<const float>(x)};
    cu::device_array<std::uint8_t> bytes(cu::qsgd8_encoded_bytes(x.size(), 512));
    cu::qsgd8_encoder encoder(512);
    encoder.encode(dx.data(), x.size(), 1, bytes.data(), nullptr);
    cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
    CHECK_THROWS_WITH_AS(encoder.check(), "asgd: cuda::qsgd8 cannot encode a bucket with a non-finite value (at 1024)",
                         std::invalid_argument);
  }

  TEST_CASE("squared_norm (Thrust) is the host's sum of squares in double, after the stream's work") {
    for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 22}) {
      const auto x = asgd_test::random_floats(n, 11);
      double expected = 0.0;
      for (float v : x) expected += static_cast<double>(v) * static_cast<double>(v);
      cu::device_array<float> dx{std::span<const float>(x)};
      CHECK(cu::squared_norm(dx.data(), n, nullptr) == doctest::Approx(expected).epsilon(1e-12));
    }
    CHECK(cu::squared_norm(nullptr, 0, nullptr) == 0.0);
    // Work enqueued before the reduction on its stream is seen: the sum of 2^20 threes squared.
    const std::size_t n = std::size_t{1} << 20;
    cu::device_array<float> dx(n);
    cudaStream_t stream = nullptr;
    cu::check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cu::detail::launch_for_each(n, fill_op{dx.data(), 3.0f}, stream, "fill");
    CHECK(cu::squared_norm(dx.data(), n, stream) == 9.0 * static_cast<double>(n));
    cudaStreamDestroy(stream);
  }
}

int main(int argc, char** argv) {
  if (asgd_test::devices_or_skip() == 0) return asgd_test::skipped;
  cudaDeviceProp prop{};
  cu::check("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, 0));
  std::printf("device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  doctest::Context context(argc, argv);
  return context.run();
}
