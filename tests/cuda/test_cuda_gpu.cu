// The kernels on a GPU (label gpu): each update rule and write mode against the host reference,
// concurrent workers on their own streams, refused launches; the quantizer kernels against the
// host quantizers' bits and the qsgd8 host reference; the Thrust reduction. Without a CUDA device the
// program says so and exits with 77, which CTest reports as skipped.

#define DOCTEST_CONFIG_IMPLEMENT
// First, so that this unit checks it compiles on its own (tests/cuda/CMakeLists.txt): the
// heaviest of these headers (Thrust), whose own unit cost 19 s of nvcc against 6 s for launch.cuh.
#include <asgd/cuda/reduce.cuh>
#include <asgd/cuda/launch.cuh>
#include <asgd/cuda/quantize.cuh>
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

// Worker streams as production makes them: non-blocking, so nothing orders them with the
// legacy stream or with one another.
struct worker_streams {
  explicit worker_streams(std::size_t n) : streams(n) {
    for (auto& s : streams) cu::check("cudaStreamCreateWithFlags", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  ~worker_streams() {
    for (auto s : streams) cudaStreamDestroy(s);
  }
  std::vector<cudaStream_t> streams;
};

// Four steps on overlapping blocks that step `stride` apart, the last one ending at the model's
// end, on a non-blocking stream, against the host reference.
template <class Write, class Rule>
void check_against_reference(const Rule& rule, std::size_t dimension, std::size_t block) {
  CAPTURE(dimension);
  CAPTURE(block);
  const std::size_t stride = (dimension - block) / 3;
  const auto math = cu::device_math(rule);
  std::vector<float> x = random_floats(dimension, 1), buffer(dimension, 0.0f);
  cu::device_array<float> dx{std::span<const float>(x)}, dbuf{std::span<const float>(buffer)};
  worker_streams stream(1);
  for (unsigned step = 0; step < 4; ++step) {
    const std::size_t lo = step == 3 ? dimension - block : stride * step;
    const auto g = random_floats(block, 7 + step);
    cu::device_array<float> dg{std::span<const float>(g)};
    cu::update_block<Write>(math, dx.data(), dimension, lo, dg.data(), block, dbuf.data(), 0.05f, stream.streams[0]);
    cu::check("cudaStreamSynchronize", cudaStreamSynchronize(stream.streams[0]));
    cu::reference_update(math, std::span<float>(x), lo, std::span<const float>(g), buffer, 0.05f);
  }
  check_close(dx.download(), x);
  if constexpr (decltype(math)::has_buffer) check_close(dbuf.download(), buffer);
}

template <class Write, class Rule>
void check_against_reference(const Rule& rule) {
  check_against_reference<Write>(rule, 100'000, 40'000);
  // Past 2^20 = launch_max_blocks * launch_threads coordinates the grid-stride loop takes a
  // second and third pass; odd sizes leave a partial last block of threads.
  check_against_reference<Write>(rule, (std::size_t{1} << 21) + 4099, (std::size_t{1} << 21) - 77);
}

// W workers on W streams, each applying `steps` plain-gradient steps (g = 1 everywhere) to the
// block [lo_w, hi_w) that `block_of(w)` gives; returns the model (from zeros).
template <class Write, class Math, class BlockOf>
std::vector<float> concurrent_steps(const Math& math, std::size_t dimension, std::size_t workers, std::size_t steps,
                                    float lr, BlockOf&& block_of) {
  const std::vector<float> zeros(dimension, 0.0f), ones(dimension, 1.0f);
  cu::device_array<float> dx{std::span<const float>(zeros)}, dg{std::span<const float>(ones)};
  std::vector<cu::device_array<float>> buffers;
  for (std::size_t w = 0; w < workers; ++w) buffers.emplace_back(std::span<const float>(zeros));
  worker_streams streams(workers);
  for (std::size_t step = 0; step < steps; ++step)
    for (std::size_t w = 0; w < workers; ++w) {
      const auto [lo, hi] = block_of(w);
      cu::update_block<Write>(math, dx.data(), dimension, lo, dg.data(), hi - lo, buffers[w].data(), lr, streams.streams[w]);
    }
  cu::check("cudaDeviceSynchronize", cudaDeviceSynchronize());
  return dx.download();
}

// One worker's model after `steps` steps of g = 1 from zeros (the host reference): with no
// weight decay a step's direction does not depend on x, so W workers' atomic adds sum to W times it.
template <class Math>
std::vector<float> one_worker_reference(const Math& math, std::size_t dimension, std::size_t steps, float lr) {
  std::vector<float> x(dimension, 0.0f), buffer(dimension, 0.0f);
  const std::vector<float> g(dimension, 1.0f);
  for (std::size_t k = 0; k < steps; ++k) cu::reference_update(math, std::span<float>(x), 0, std::span<const float>(g), buffer, lr);
  return x;
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
    constexpr std::size_t dimension = (1 << 20) + 333, workers = 8, steps = 16;
    const auto got = concurrent_steps<cu::atomic_add_writes>(cu::device_math(asgd::update::sgd{}), dimension, workers,
                                                             steps, 0.25f, [&](std::size_t) {
                                                               return std::pair<std::size_t, std::size_t>{0, dimension};
                                                             });
    std::size_t wrong = 0;
    const float want = -0.25f * static_cast<float>(workers * steps);  // exact: multiples of 1/4
    for (float v : got)
      if (v != want) ++wrong;
    CHECK(wrong == 0);
  }

  TEST_CASE("atomic_add: momentum and Nesterov workers on one block lose no update") {
    // Each worker keeps its own buffer; without weight decay its directions do not depend on
    // x, so the model ends at W times one worker's, up to the order of the float additions.
    constexpr std::size_t dimension = 70'001, workers = 6, steps = 12;
    const auto whole = [&](std::size_t) { return std::pair<std::size_t, std::size_t>{0, dimension}; };
    const auto check_rule = [&](const auto& math) {
      const auto got = concurrent_steps<cu::atomic_add_writes>(math, dimension, workers, steps, 0.01f, whole);
      const auto one = one_worker_reference(math, dimension, steps, 0.01f);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < dimension; ++i) {
        const float want = static_cast<float>(workers) * one[i];
        if (std::fabs(got[i] - want) > 1e-5f * std::fabs(want)) ++wrong;
      }
      CHECK(wrong == 0);
    };
    check_rule(cu::device_math(asgd::update::momentum{.mu = 0.9f}));
    check_rule(cu::device_math(asgd::update::nesterov{.mu = 0.9f}));
  }

  TEST_CASE("hogwild: workers on disjoint blocks (partitioned) lose no update") {
    // Plain read-modify-write kernels, each worker on its own range: nothing races, so every
    // coordinate takes exactly its worker's steps.
    constexpr std::size_t dimension = (1 << 21) + 5, workers = 4, steps = 10;
    const auto part = [&](std::size_t w) {
      return std::pair<std::size_t, std::size_t>{w * dimension / workers, (w + 1) * dimension / workers};
    };
    const auto got =
        concurrent_steps<cu::hogwild_writes>(cu::device_math(asgd::update::sgd{}), dimension, workers, steps, 0.5f, part);
    std::size_t wrong = 0;
    for (float v : got)
      if (v != -0.5f * static_cast<float>(steps)) ++wrong;
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

  TEST_CASE("squared_norm (Thrust) is the exact sum of squares to 1e-12, after the stream's work") {
    for (const std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 22}) {
      const auto x = asgd_test::random_floats(n, 11);
      // The reference in long double (64-bit significand): a double sum of 2^22 squares would
      // carry about 1e-12 of its own rounding, as much as the tolerance.
      long double expected = 0.0L;
      for (float v : x) expected += static_cast<long double>(v) * static_cast<long double>(v);
      cu::device_array<float> dx{std::span<const float>(x)};
      CHECK(cu::squared_norm(dx.data(), n, nullptr) == doctest::Approx(static_cast<double>(expected)).epsilon(1e-12));
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
  if (const int devices = asgd_test::devices_or_skip(); devices <= 0) return asgd_test::exit_without_devices(devices);
  cudaDeviceProp prop{};
  cu::check("cudaGetDeviceProperties", cudaGetDeviceProperties(&prop, 0));
  std::printf("device 0: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
  doctest::Context context(argc, argv);
  return context.run();
}
