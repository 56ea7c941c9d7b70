#pragma once
/// @file
/// Reading IDX files (the MNIST and Fashion-MNIST format), gzip-compressed or not.
///
/// An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
/// dimensions), one big-endian 32-bit size per dimension, then the data in row-major order.
/// Every fault is reported as a data_error naming the file and what is wrong with it.

#include <asgd/detail/memory.hpp>
#include <asgd/version.hpp>

#include <zlib.h>
#if defined(ASGD_WITH_LIBDEFLATE)
#include <libdeflate.h>
#endif
#if __has_include(<sys/mman.h>) && __has_include(<fcntl.h>) && __has_include(<unistd.h>)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define ASGD_IDX_MAPS_FILES 1
#endif

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asgd::inline v0::data {

/// A file that cannot be used as training data; the message names the file and the fault.
class data_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The type code of unsigned bytes, the only one (Fashion-)MNIST uses.
inline constexpr std::uint8_t idx_ubyte = 0x08;

/// An IDX array of unsigned bytes.
struct idx_array {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> values;
};

namespace detail {

[[noreturn]] inline void fail(const std::string& name, const std::string& what) {
  throw data_error("asgd: " + name + ": " + what);
}

}  // namespace detail

/// True when `bytes` start with gzip's magic (1f 8b).
inline bool is_gzip(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

namespace detail {

// The gzip trailer's ISIZE (the last 4 bytes, little-endian: the uncompressed length modulo
// 2^32) as a first output size. A hint only, and no more than deflate's largest ratio (1032:1)
// allows, so a forged trailer cannot make a small input allocate gigabytes.
inline std::size_t gzip_size_hint(std::span<const std::uint8_t> bytes) noexcept {
  std::size_t expected = std::size_t{1} << 16;
  if (bytes.size() >= 18) {
    const std::uint8_t* t = bytes.data() + bytes.size() - 4;
    const std::size_t isize = std::uint32_t{t[0]} | std::uint32_t{t[1]} << 8 | std::uint32_t{t[2]} << 16 |
                              std::uint32_t{t[3]} << 24;
    expected = std::max(expected, std::min(isize, 1032 * bytes.size()));
  }
  return expected;
}

/// gunzip_if_compressed's inflate with zlib (streaming; the one that names every fault).
inline std::vector<std::uint8_t> zlib_gunzip(std::span<const std::uint8_t> bytes, const std::string& name,
                                             std::size_t limit) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) detail::fail(name, "cannot initialise zlib");
  const std::size_t expected = gzip_size_hint(bytes);
  std::vector<std::uint8_t> out;
  asgd::detail::resize_on_huge_pages(out, std::min(expected, limit + 1));
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  std::size_t done = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (done == out.size()) {  // the trailer understated the length (or lied): grow
      if (out.size() > limit) {
        inflateEnd(&z);
        detail::fail(name, "decompresses to more than " + std::to_string(limit) + " bytes");
      }
      asgd::detail::resize_on_huge_pages(out, std::min(2 * out.size(), limit + 1));
    }
    z.next_out = out.data() + done;
    z.avail_out = static_cast<uInt>(std::min<std::size_t>(out.size() - done, std::numeric_limits<uInt>::max()));
    const uInt offered = z.avail_out;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = z.msg != nullptr ? z.msg : (rc == Z_BUF_ERROR ? "unexpected end of data" : "error");
      inflateEnd(&z);
      detail::fail(name, "corrupt gzip data (" + why + ")");
    }
    done += offered - z.avail_out;
    if (done > limit) {
      inflateEnd(&z);
      detail::fail(name, "decompresses to more than " + std::to_string(limit) + " bytes");
    }
    if (rc != Z_STREAM_END && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      detail::fail(name, "truncated gzip data");
    }
  }
  inflateEnd(&z);
  out.resize(done);
  return out;
}

#if defined(ASGD_WITH_LIBDEFLATE)
// The same with libdeflate (whole-buffer, about twice zlib's speed here), or nothing when it
// fails: libdeflate's errors do not tell a truncated stream from a corrupt one, so the caller
// then runs zlib for the message. Only a stream that ends exactly at the input's end is taken
// (zlib's streaming inflate checks the same through its truncation test).
inline std::optional<std::vector<std::uint8_t>> libdeflate_gunzip(std::span<const std::uint8_t> bytes,
                                                                   std::size_t limit) {
  struct release {
    void operator()(libdeflate_decompressor* d) const noexcept { libdeflate_free_decompressor(d); }
  };
  const std::unique_ptr<libdeflate_decompressor, release> d(libdeflate_alloc_decompressor());
  if (!d) return std::nullopt;
  std::vector<std::uint8_t> out;
  std::size_t size = std::min(gzip_size_hint(bytes), limit);
  for (;;) {
    asgd::detail::resize_on_huge_pages(out, size);
    std::size_t in_used = 0, produced = 0;
    const libdeflate_result rc = libdeflate_gzip_decompress_ex(d.get(), bytes.data(), bytes.size(), out.data(),
                                                               out.size(), &in_used, &produced);
    if (rc == LIBDEFLATE_SUCCESS && in_used == bytes.size()) {
      out.resize(produced);
      return out;
    }
    // Short of room (the trailer understated the length): grow up to the limit, then let zlib
    // report what is wrong.
    if (rc != LIBDEFLATE_INSUFFICIENT_SPACE || size >= limit) return std::nullopt;
    size = std::min(2 * size, limit);
  }
}
#endif

}  // namespace detail

/// The bytes of `compressed` gunzipped when they start with gzip's magic (1f 8b), else
/// returned as they are. At most `limit` bytes are produced. The output is sized once from the
/// gzip trailer's length (and grown if the trailer understates it), inflated in place and
/// backed by huge pages: no chunk copies, no page fault per 4 KiB of a 47 MB image file.
/// Inflated by zlib; by libdeflate where ASGD_WITH_LIBDEFLATE is defined (link -ldeflate;
/// asgd-train does where CMake finds it), with zlib rerun on a fault to name it.
/// @throws data_error naming `name` on a corrupt or truncated gzip stream, or past `limit`
inline std::vector<std::uint8_t> gunzip_if_compressed(std::span<const std::uint8_t> bytes, const std::string& name,
                                                      std::size_t limit = std::size_t{1} << 31) {
  if (!is_gzip(bytes)) return {bytes.begin(), bytes.end()};
#if defined(ASGD_WITH_LIBDEFLATE)
  if (auto out = detail::libdeflate_gunzip(bytes, limit)) return std::move(*out);
#endif
  return detail::zlib_gunzip(bytes, name, limit);
}

namespace detail {

// Checks an IDX image of unsigned bytes with `expected_dims` dimensions: the header, then the
// payload's length against it. Returns the dimensions and the header's length.
inline std::pair<std::vector<std::uint32_t>, std::size_t> check_idx(std::span<const std::uint8_t> bytes,
                                                                     std::size_t expected_dims,
                                                                     const std::string& name) {
  if (bytes.size() < 4) fail(name, "too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  char found[16], wanted[16];
  std::snprintf(found, sizeof found, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  std::snprintf(wanted, sizeof wanted, "0000%02x%02zx", idx_ubyte, expected_dims);
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != idx_ubyte || bytes[3] != expected_dims) {
    fail(name, std::string("wrong magic number 0x") + found + ", expected 0x" + wanted + " (unsigned bytes, " +
                   std::to_string(expected_dims) + " dimensions)");
  }
  const std::size_t header = 4 + 4 * expected_dims;
  if (bytes.size() < header) fail(name, "truncated header");
  std::vector<std::uint32_t> dims;
  std::size_t count = 1;
  for (std::size_t d = 0; d < expected_dims; ++d) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * d;
    const std::uint32_t n = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    if (n == 0) fail(name, "dimension " + std::to_string(d) + " is 0");
    if (count > (std::size_t{1} << 32) / n) fail(name, "the header's sizes exceed 4 GiB");
    count *= n;
    dims.push_back(n);
  }
  const std::size_t payload = bytes.size() - header;
  if (payload < count) {
    fail(name, "truncated payload: the header announces " + std::to_string(count) + " bytes, the file has " +
                   std::to_string(payload));
  }
  if (payload > count) {
    fail(name, std::to_string(payload - count) + " bytes after the " + std::to_string(count) + " the header announces");
  }
  return {std::move(dims), header};
}

}  // namespace detail

/// Parses an uncompressed IDX image of unsigned bytes with `expected_dims` dimensions.
/// @throws data_error naming `name`: wrong magic number (the bytes found and the expected
///         ones), a dimension of 0, a payload shorter or longer than the header says
inline idx_array parse_idx(std::span<const std::uint8_t> bytes, std::size_t expected_dims, const std::string& name) {
  auto [dims, header] = detail::check_idx(bytes, expected_dims, name);
  idx_array out{std::move(dims), {}};
  asgd::detail::resize_on_huge_pages(out.values, bytes.size() - header);
  std::copy(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end(), out.values.begin());
  return out;
}

/// The same, taking the bytes over: the payload stays in their buffer (the header is moved
/// out of its way), so a large file is not copied into a fresh allocation.
inline idx_array parse_idx(std::vector<std::uint8_t>&& bytes, std::size_t expected_dims, const std::string& name) {
  auto [dims, header] = detail::check_idx(bytes, expected_dims, name);
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));
  return {std::move(dims), std::move(bytes)};
}

namespace detail {

// A regular file's bytes. Where POSIX allows they are mapped read-only: a compressed file's
// pages are then the page cache's, with no fresh memory to fault in and zero and no copy out
// of the cache (26 MB for Fashion-MNIST's training images). Elsewhere they are read into
// memory. Either way the size is stat's; a file that changes meanwhile is caught by the
// length checks that follow, except that one cut shorter while mapped stops the process with
// SIGBUS, as any mapped file does (a data set being rewritten under a run).
class file_bytes {
 public:
  file_bytes(const std::filesystem::path& path, const std::string& name) {
#if defined(ASGD_IDX_MAPS_FILES)
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(name, std::string("cannot open for reading: ") + std::strerror(errno));
    struct ::stat st {};
    if (::fstat(fd, &st) != 0) {
      const int why = errno;
      ::close(fd);
      fail(name, std::string("cannot read: ") + std::strerror(why));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int why = errno;
        ::close(fd);
        fail(name, std::string("cannot map for reading: ") + std::strerror(why));
      }
      map_ = static_cast<const std::uint8_t*>(p);
      (void)::madvise(p, size_, MADV_SEQUENTIAL);  // a hint: read ahead
    }
    ::close(fd);
#else
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(name, std::string("cannot open for reading: ") + std::strerror(errno));
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) fail(name, "cannot read: " + ec.message());
    asgd::detail::resize_on_huge_pages(read_, static_cast<std::size_t>(size));
    in.read(reinterpret_cast<char*>(read_.data()), static_cast<std::streamsize>(read_.size()));
    if (in.bad() || static_cast<std::size_t>(in.gcount()) != read_.size()) fail(name, "read error");
#endif
  }
  file_bytes(const file_bytes&) = delete;
  file_bytes& operator=(const file_bytes&) = delete;
  ~file_bytes() {
#if defined(ASGD_IDX_MAPS_FILES)
    if (map_ != nullptr) ::munmap(const_cast<std::uint8_t*>(map_), size_);
#endif
  }

  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return map_ != nullptr ? std::span<const std::uint8_t>(map_, size_) : std::span<const std::uint8_t>(read_);
  }

 private:
  const std::uint8_t* map_ = nullptr;
  std::size_t size_ = 0;
  std::vector<std::uint8_t> read_;
};

}  // namespace detail

/// Reads and parses an IDX file, gzip-compressed or not.
/// @throws data_error naming the file: missing or unreadable, corrupt gzip, or any fault of
///         parse_idx
inline idx_array read_idx(const std::filesystem::path& path, std::size_t expected_dims) {
  const std::string name = path.string();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) detail::fail(name, "no such file");
  if (status.type() == std::filesystem::file_type::directory) detail::fail(name, "is a directory, not a file");
  if (ec) detail::fail(name, "cannot read: " + ec.message());
  if (status.type() != std::filesystem::file_type::regular) detail::fail(name, "is not a regular file");
  const detail::file_bytes file(path, name);
  const std::span<const std::uint8_t> bytes = file.bytes();
  if (is_gzip(bytes)) return parse_idx(gunzip_if_compressed(bytes, name), expected_dims, name);
  return parse_idx(bytes, expected_dims, name);
}

}  // namespace asgd::inline v0::data
