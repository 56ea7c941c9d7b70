// Writes seed inputs for the fuzz targets into DIR/idx and DIR/checkpoint: valid IDX files
// (plain and gzip'd, images and labels) and valid checkpoints (raw and as sealed payloads).
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

namespace fs = std::filesystem;

static void write(const fs::path& p, std::uint8_t first, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.put(static_cast<char>(first));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

static std::vector<std::uint8_t> gzip(const std::vector<std::uint8_t>& raw) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(raw.size())));
  z.next_in = const_cast<Bytef*>(raw.data());
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: asgd-fuzz-seeds DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  fs::create_directories(dir / "idx");
  fs::create_directories(dir / "checkpoint");
  const std::vector<std::uint8_t> images{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<std::uint8_t> labels{0, 0, 8, 1, 0, 0, 0, 3, 1, 9, 4};
  write(dir / "idx" / "images", 0, images);
  write(dir / "idx" / "images.gz", 2, gzip(images));
  write(dir / "idx" / "labels", 1, labels);
  write(dir / "idx" / "labels.gz", 3, gzip(labels));

  const auto ckpt = fs::temp_directory_path() / "asgd_fuzz_seed.ckpt";
  const auto inst = asgd::problems::make_least_squares(32, 4, 0.1, 1);
  asgd::trainer<asgd::problems::least_squares, asgd::consistency::sequential, asgd::update::momentum,
                asgd::select::random_block>
      t{inst.problem, {.steps = 8, .batch = 4}};
  t.checkpoint_to(ckpt, 3);
  t.run();
  const auto bytes = asgd::read_checkpoint_file(ckpt);
  write(dir / "checkpoint" / "file", 1, bytes);
  const auto payload = asgd::open_checkpoint(bytes, ckpt.string());
  write(dir / "checkpoint" / "payload", 0, {payload.begin(), payload.end()});
  fs::remove(ckpt);
  return 0;
}
