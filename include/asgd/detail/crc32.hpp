#pragma once
/// @file
/// CRC-32 (ISO-HDLC: the checksum of zlib, gzip and PNG) for checkpoint files, so that the
/// library needs no zlib.

#include <asgd/detail/config.hpp>

#include <cstdint>
#include <span>

namespace asgd::inline v0::detail {

/// The CRC-32 of `bytes`, continuing from `crc` (0 to start), as zlib's crc32(crc, bytes).
ASGD_DECL std::uint32_t crc32(std::span<const std::uint8_t> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace asgd::inline v0::detail

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/crc32.ipp>
#endif
