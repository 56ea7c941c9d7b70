#pragma once
// The definition of detail::crc32 and its tables (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/detail/crc32.hpp>

#include <array>
#include <cstddef>

namespace asgd::inline v0::detail {

// Slicing by 8 (Intel's table method): table[k][b] is the CRC of byte b followed by k zero bytes,
// so eight bytes take eight independent lookups (a byte at a time ran 190 MB/s, latency-bound).
// Built at the first checksum (a few microseconds) by a plain function: a constexpr table, or a
// lambda (implicitly constexpr), is evaluated while parsing, which cost every translation unit
// that includes the trainer about 0.1 s of GCC's time.
using crc32_table_set = std::array<std::array<std::uint32_t, 256>, 8>;
inline crc32_table_set make_crc32_tables() noexcept {
  crc32_table_set t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;  // reflected 0x04C11DB7
    t[0][i] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  return t;
}
inline const crc32_table_set& crc32_tables() noexcept {
  static const crc32_table_set tables = make_crc32_tables();
  return tables;
}

ASGD_DECL std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc) noexcept {
  const auto& t = crc32_tables();
  const std::uint8_t* p = bytes.data();
  std::size_t n = bytes.size();
  std::uint32_t c = ~crc;
  const auto le32 = [](const std::uint8_t* q) {
    return std::uint32_t{q[0]} | std::uint32_t{q[1]} << 8 | std::uint32_t{q[2]} << 16 | std::uint32_t{q[3]} << 24;
  };
  for (; n >= 8; n -= 8, p += 8) {
    const std::uint32_t lo = le32(p) ^ c, hi = le32(p + 4);
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
  }
  for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xFFu] ^ (c >> 8);
  return ~c;
}

}  // namespace asgd::inline v0::detail
