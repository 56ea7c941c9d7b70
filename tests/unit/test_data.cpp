// The IDX reader and Fashion-MNIST: every fault named with its file, gzip and plain files alike.

#include "../support.hpp"

#include <asgd/data/images.hpp>

#include <doctest/doctest.h>

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::vector<std::uint8_t> idx_bytes(std::vector<std::uint32_t> dims, std::size_t payload, std::uint8_t type = 0x08) {
  std::vector<std::uint8_t> b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(d >> s));
  for (std::size_t i = 0; i < payload; ++i) b.push_back(static_cast<std::uint8_t>(i % 7));
  return b;
}

std::vector<std::uint8_t> gzip(const std::vector<std::uint8_t>& raw) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(raw.size())));
  z.next_in = const_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("asgd_data_" + std::to_string(::getpid()) + "_" +
                                               std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
  fs::path write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
    std::ofstream(path / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                        static_cast<std::streamsize>(bytes.size()));
    return path / name;
  }
};

std::vector<std::uint8_t> labels_bytes(std::vector<std::uint8_t> labels) {
  auto b = idx_bytes({static_cast<std::uint32_t>(labels.size())}, 0);
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

}  // namespace

TEST_SUITE("data") {
  TEST_CASE("gunzip sizes its output from the trailer, and grows it when the trailer understates it") {
    std::vector<std::uint8_t> big(300000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
    const auto one = gzip(big);
    CHECK(asgd::data::gunzip_if_compressed(one, "one") == big);
    // Two gzip members: the trailer is the second's (10 bytes), so the output starts at 64 KiB
    // and must grow to the first member's 300000 bytes, which is what is read (as before).
    auto two = one;
    const auto tail = gzip(std::vector<std::uint8_t>(10, 7));
    two.insert(two.end(), tail.begin(), tail.end());
    CHECK(asgd::data::gunzip_if_compressed(two, "two") == big);
    CHECK_THROWS_WITH_AS(asgd::data::gunzip_if_compressed(one, "small", 100000),
                         "asgd: small: decompresses to more than 100000 bytes", asgd::data::data_error);
  }

  TEST_CASE("zlib and the fast path inflate alike, and a fault is named by zlib either way") {
    std::vector<std::uint8_t> big(200000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i % 251 < 40 ? 0 : i % 7);
    auto gz = gzip(big);
    CHECK(asgd::data::detail::zlib_gunzip(gz, "z", std::size_t{1} << 31) == big);
    CHECK(asgd::data::gunzip_if_compressed(gz, "f") == big);
#if defined(ASGD_WITH_LIBDEFLATE)
    CHECK(asgd::data::detail::libdeflate_gunzip(gz, std::size_t{1} << 31) == big);
    // A trailer that misstates the length, over the limit, cut short: no result from the fast
    // path, and zlib names the fault.
    auto lying = gz;
    lying[lying.size() - 3] ^= 1;
    CHECK_FALSE(asgd::data::detail::libdeflate_gunzip(lying, std::size_t{1} << 31).has_value());
    CHECK_THROWS_WITH_AS(asgd::data::gunzip_if_compressed(lying, "lying"),
                         "asgd: lying: corrupt gzip data (incorrect length check)", asgd::data::data_error);
    CHECK_FALSE(asgd::data::detail::libdeflate_gunzip(gz, 1000).has_value());
    gz.resize(gz.size() - 100);
    CHECK_FALSE(asgd::data::detail::libdeflate_gunzip(gz, std::size_t{1} << 31).has_value());
#else
    gz.resize(gz.size() - 100);
#endif
    CHECK_THROWS_WITH_AS(asgd::data::gunzip_if_compressed(gz, "cut"), "asgd: cut: truncated gzip data",
                         asgd::data::data_error);
  }

  TEST_CASE("gzip'd and plain IDX files read the same") {
    temp_dir t;
    const auto raw = idx_bytes({3, 4, 5}, 60);
    const auto a = asgd::data::read_idx(t.write("a.idx", raw), 3);
    const auto b = asgd::data::read_idx(t.write("a.idx.gz", gzip(raw)), 3);
    CHECK(a.dims == std::vector<std::uint32_t>{3, 4, 5});
    CHECK(a.values.size() == 60);
    CHECK(a.values == b.values);
  }

  TEST_CASE("every fault is named with its file") {
    temp_dir t;
    auto fails = [](const fs::path& p, std::size_t dims, const std::string& text) {
      CHECK_THROWS_WITH_AS(asgd::data::read_idx(p, dims), doctest::Contains((p.string() + ": " + text).c_str()),
                           asgd::data::data_error);
    };
    fails(t.path / "missing.idx", 3, "no such file");
    fails(t.write("magic.idx", idx_bytes({2, 2, 2}, 8, 0x0d)), 3,
          "wrong magic number 0x00000d03, expected 0x00000803 (unsigned bytes, 3 dimensions)");
    fails(t.write("dims.idx", idx_bytes({2, 2}, 4)), 3, "wrong magic number 0x00000802");
    fails(t.write("short.idx", idx_bytes({10, 4, 4}, 100)), 3,
          "truncated payload: the header announces 160 bytes, the file has 100");
    fails(t.write("long.idx", idx_bytes({1, 2, 2}, 9)), 3, "5 bytes after the 4 the header announces");
    fails(t.write("zero.idx", idx_bytes({0, 2, 2}, 0)), 3, "dimension 0 is 0");
    fails(t.write("tiny.idx", {0, 0}), 3, "too short for an IDX header");
    auto gz = gzip(idx_bytes({2, 3, 3}, 18));
    gz.resize(gz.size() / 2);
    fails(t.write("cut.idx.gz", gz), 3, "truncated gzip data");
    auto bad = gzip(idx_bytes({2, 3, 3}, 18));
    for (std::size_t i = 12; i < bad.size() - 8; ++i) bad[i] ^= 0x5a;
    fails(t.write("bad.idx.gz", bad), 3, "corrupt gzip data");
  }

  TEST_CASE("image and label files must agree") {
    temp_dir t;
    const auto images = t.write("i.idx", idx_bytes({3, 2, 2}, 12));
    CHECK_THROWS_WITH_AS(asgd::data::load_idx_images(images, t.write("l2.idx", labels_bytes({1, 2}))),
                         doctest::Contains("holds 3 images but"), asgd::data::data_error);
    CHECK_THROWS_WITH_AS(asgd::data::load_idx_images(images, t.write("l3.idx", labels_bytes({1, 12, 2}))),
                         doctest::Contains("l3.idx: label 12 of sample 1 is out of range (10 classes)"),
                         asgd::data::data_error);
    const auto ok = asgd::data::load_idx_images(images, t.write("ok.idx", labels_bytes({1, 9, 2})));
    CHECK(ok.size() == 3);
    CHECK(ok.rows == 2);
    CHECK(ok.image(2)[3] == 11 % 7);
    float decoded[4];
    ok.decode(2, decoded);
    CHECK(decoded[3] == doctest::Approx((11 % 7) / 255.0));
  }

  TEST_CASE("Fashion-MNIST from Debian's dataset-fashion-mnist") {
    // The data is part of the test setup (scripts/setup.sh installs it): missing, it fails.
    REQUIRE_MESSAGE(fs::exists(asgd::data::fashion_mnist_dir / "train-images-idx3-ubyte.gz"),
                    asgd::data::fashion_mnist_dir << " is missing: scripts/setup.sh installs dataset-fashion-mnist");
    const auto d = asgd::data::load_mnist_like();
    CHECK(d.train.size() == 60000);
    CHECK(d.test.size() == 10000);
    CHECK(d.train.rows == 28);
    CHECK(d.train.cols == 28);
    std::vector<std::size_t> per_class(10, 0);
    for (auto l : d.test.labels) ++per_class[l];
    CHECK(per_class == std::vector<std::size_t>(10, 1000));  // the test set is balanced
    CHECK(d.train.value(0) == 0.0f);  // [0, 1] until standardised
    CHECK(d.train.value(255) == doctest::Approx(1.0));
    auto standard = d;
    const auto [mean, sd] = asgd::data::standardize(standard);
    CHECK(mean == doctest::Approx(0.2860).epsilon(1e-3));
    CHECK(sd == doctest::Approx(0.3530).epsilon(1e-3));
    // The training set's decoded pixels now have mean 0 and variance 1; the test set shares the map.
    double sum = 0.0, sum2 = 0.0;
    std::vector<float> image(standard.train.pixels_per_image());
    for (std::size_t i = 0; i < standard.train.size(); ++i) {
      standard.train.decode(i, image.data());
      for (float p : image) sum += p, sum2 += double{p} * p;
    }
    const double n = static_cast<double>(standard.train.pixel_bytes.size());
    CHECK(sum / n == doctest::Approx(0.0).epsilon(1e-5));
    CHECK(sum2 / n == doctest::Approx(1.0).epsilon(1e-5));
    CHECK(standard.test.scale == standard.train.scale);
    CHECK(standard.test.shift == standard.train.shift);
  }
}
