#pragma once
// The definitions of <asgd/checkpoint.hpp>'s file functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/checkpoint.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <sys/stat.h>

namespace asgd::inline v0 {

ASGD_DECL std::string byte_reader::string() {
  const std::uint64_t n = length(1, "a string");
  std::string s(n, '\0');
  raw(s.data(), n, "a string");
  return s;
}

ASGD_DECL void byte_reader::floats(std::span<float> out, std::string_view what) {
  const std::uint64_t n = length(sizeof(float), what);
  if (n != out.size()) {
    fail(std::string(what) + " holds " + std::to_string(n) + " values, expected " + std::to_string(out.size()));
  }
  raw(out.data(), out.size_bytes(), what);
}

ASGD_DECL void byte_reader::fail(const std::string& what) const {
  throw checkpoint_error("asgd: " + name_ + ": " + what + " (at byte " + std::to_string(at_) + ")");
}

ASGD_DECL void byte_reader::mismatch(std::string_view what, const std::string& found, const std::string& wanted) const {
  throw checkpoint_error("asgd: " + name_ + ": written with " + std::string(what) + " " + found + ", this run has " +
                         wanted);
}

ASGD_DECL std::uint64_t byte_reader::length(std::size_t element, std::string_view what) {
  const std::uint64_t n = u64();
  if (n > remaining() / element) fail("truncated: " + std::string(what) + " claims " + std::to_string(n) + " elements");
  return n;
}

ASGD_DECL void byte_reader::truncated(std::string_view what) const {
  fail("truncated while reading " + std::string(what));
}

ASGD_DECL std::vector<std::uint8_t> seal_checkpoint(std::span<const std::uint8_t> payload) {
  // One allocation of the whole image (vector::insert at -O3 also tripped a false GCC 12
  // -Warray-bounds warning).
  std::vector<std::uint8_t> out(detail::checkpoint_header + payload.size());
  std::memcpy(out.data(), detail::checkpoint_magic, 8);
  const std::uint32_t version = checkpoint_format;
  const std::uint64_t size = payload.size();
  const std::uint32_t sum = detail::crc32(payload);
  std::memcpy(out.data() + 8, &version, 4);
  std::memcpy(out.data() + 12, &size, 8);
  std::memcpy(out.data() + 20, &sum, 4);
  if (!payload.empty()) std::memcpy(out.data() + detail::checkpoint_header, payload.data(), payload.size());
  return out;
}

ASGD_DECL std::span<const std::uint8_t> open_checkpoint(std::span<const std::uint8_t> file, const std::string& name) {
  if (file.size() < detail::checkpoint_header || std::memcmp(file.data(), detail::checkpoint_magic, 8) != 0) {
    throw checkpoint_error("asgd: " + name + ": not an asgd checkpoint (no ASGDCKPT header)");
  }
  std::uint32_t version = 0, sum = 0;
  std::uint64_t size = 0;
  std::memcpy(&version, file.data() + 8, 4);
  std::memcpy(&size, file.data() + 12, 8);
  std::memcpy(&sum, file.data() + 20, 4);
  if (version != checkpoint_format) {
    throw checkpoint_error("asgd: " + name + ": checkpoint format " + std::to_string(version) + ", this asgd reads " +
                           std::to_string(checkpoint_format));
  }
  const auto payload = file.subspan(detail::checkpoint_header);
  if (payload.size() != size) {
    throw checkpoint_error("asgd: " + name + ": truncated or padded: the header announces " + std::to_string(size) +
                           " bytes of payload, the file has " + std::to_string(payload.size()));
  }
  if (detail::crc32(payload) != sum) throw checkpoint_error("asgd: " + name + ": checksum mismatch (the file is corrupt)");
  return payload;
}

ASGD_DECL std::vector<std::uint8_t> read_checkpoint_file(const std::string& path) {
  struct ::stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) throw checkpoint_error("asgd: " + path + ": no such file");
  // C's streams, not <fstream>: that header cost every trainer's translation unit compile time.
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!in) throw checkpoint_error("asgd: " + path + ": cannot open: " + std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, in.get())) > 0;) bytes.insert(bytes.end(), chunk, chunk + n);
  if (std::ferror(in.get()) != 0) throw checkpoint_error("asgd: " + path + ": read error");
  return bytes;
}

}  // namespace asgd::inline v0
