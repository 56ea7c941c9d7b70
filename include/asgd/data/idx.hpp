#pragma once
/// @file
/// Reading IDX files (the MNIST and Fashion-MNIST format), gzip-compressed or not.
///
/// An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
/// dimensions), one big-endian 32-bit size per dimension, then the data in row-major order.
/// Every fault is reported as a data_error naming the file and what is wrong with it.

#include <asgd/version.hpp>

#include <zlib.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
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

/// The bytes of `compressed` gunzipped when they start with gzip's magic (1f 8b), else
/// returned as they are. At most `limit` bytes are produced.
/// @throws data_error naming `name` on a corrupt or truncated gzip stream, or past `limit`
inline std::vector<std::uint8_t> gunzip_if_compressed(std::span<const std::uint8_t> bytes, const std::string& name,
                                                      std::size_t limit = std::size_t{1} << 31) {
  if (bytes.size() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return {bytes.begin(), bytes.end()};
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) detail::fail(name, "cannot initialise zlib");
  std::vector<std::uint8_t> out;
  std::uint8_t chunk[1 << 16];
  z.next_in = const_cast<Bytef*>(bytes.data());
  z.avail_in = static_cast<uInt>(bytes.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = z.msg != nullptr ? z.msg : (rc == Z_BUF_ERROR ? "unexpected end of data" : "error");
      inflateEnd(&z);
      detail::fail(name, "corrupt gzip data (" + why + ")");
    }
    out.insert(out.end(), chunk, chunk + (sizeof chunk - z.avail_out));
    if (out.size() > limit) {
      inflateEnd(&z);
      detail::fail(name, "decompresses to more than " + std::to_string(limit) + " bytes");
    }
    if (rc != Z_STREAM_END && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      detail::fail(name, "truncated gzip data");
    }
  }
  inflateEnd(&z);
  return out;
}

/// Parses an uncompressed IDX image of unsigned bytes with `expected_dims` dimensions.
/// @throws data_error naming `name`: wrong magic number (the bytes found and the expected
///         ones), a dimension of 0, a payload shorter or longer than the header says
inline idx_array parse_idx(std::span<const std::uint8_t> bytes, std::size_t expected_dims, const std::string& name) {
  if (bytes.size() < 4) detail::fail(name, "too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  char found[16], wanted[16];
  std::snprintf(found, sizeof found, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  std::snprintf(wanted, sizeof wanted, "0000%02x%02zx", idx_ubyte, expected_dims);
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != idx_ubyte || bytes[3] != expected_dims) {
    detail::fail(name, std::string("wrong magic number 0x") + found + ", expected 0x" + wanted + " (unsigned bytes, " +
                           std::to_string(expected_dims) + " dimensions)");
  }
  const std::size_t header = 4 + 4 * expected_dims;
  if (bytes.size() < header) detail::fail(name, "truncated header");
  idx_array a;
  std::size_t count = 1;
  for (std::size_t d = 0; d < expected_dims; ++d) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * d;
    const std::uint32_t n = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
    if (n == 0) detail::fail(name, "dimension " + std::to_string(d) + " is 0");
    if (count > (std::size_t{1} << 32) / n) detail::fail(name, "the header's sizes exceed 4 GiB");
    count *= n;
    a.dims.push_back(n);
  }
  const std::size_t payload = bytes.size() - header;
  if (payload < count) {
    detail::fail(name, "truncated payload: the header announces " + std::to_string(count) + " bytes, the file has " +
                           std::to_string(payload));
  }
  if (payload > count) {
    detail::fail(name, std::to_string(payload - count) + " bytes after the " + std::to_string(count) +
                           " the header announces");
  }
  a.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return a;
}

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
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::fail(name, std::string("cannot open for reading: ") + std::strerror(errno));
  const std::vector<std::uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) detail::fail(name, "read error");
  return parse_idx(gunzip_if_compressed(raw, name), expected_dims, name);
}

}  // namespace asgd::inline v0::data
