#pragma once
// Internal: packing fixed-width unsigned fields into bytes (little-endian bit order), and
// floats into bytes, for the quantizers' wire formats.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::detail {

// Appends fields of `width` bits (1..32) to a byte vector.
class bit_writer {
 public:
  explicit bit_writer(std::vector<std::byte>& out) : out_(out) {}
  ~bit_writer() { flush(); }
  bit_writer(const bit_writer&) = delete;
  bit_writer& operator=(const bit_writer&) = delete;

  void put(std::uint32_t value, unsigned width) {
    acc_ |= std::uint64_t{value} << filled_;
    filled_ += width;
    while (filled_ >= 8) {
      out_.push_back(static_cast<std::byte>(acc_ & 0xffu));
      acc_ >>= 8;
      filled_ -= 8;
    }
  }
  void put_float(float f) {
    std::uint32_t u = 0;
    std::memcpy(&u, &f, sizeof u);
    put(u & 0xffffu, 16);
    put(u >> 16, 16);
  }
  // Pads the last byte with zero bits.
  void flush() {
    if (filled_ > 0) out_.push_back(static_cast<std::byte>(acc_ & 0xffu));
    acc_ = 0;
    filled_ = 0;
  }

 private:
  std::vector<std::byte>& out_;
  std::uint64_t acc_ = 0;
  unsigned filled_ = 0;
};

// Reads what bit_writer wrote; reading past the end throws, naming `what`.
class bit_reader {
 public:
  bit_reader(std::span<const std::byte> in, const char* what) : in_(in), what_(what) {}

  std::uint32_t get(unsigned width) {
    while (filled_ < width) {
      if (at_ == in_.size()) {
        throw std::invalid_argument(std::string("asgd: ") + what_ + ": the encoding ends early (" +
                                    std::to_string(in_.size()) + " bytes)");
      }
      acc_ |= std::uint64_t{static_cast<std::uint8_t>(in_[at_++])} << filled_;
      filled_ += 8;
    }
    const auto v = static_cast<std::uint32_t>(acc_ & ((std::uint64_t{1} << width) - 1));
    acc_ >>= width;
    filled_ -= width;
    return v;
  }
  float get_float() {
    const std::uint32_t lo = get(16);
    const std::uint32_t u = lo | (get(16) << 16);
    float f = 0.0f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }

 private:
  std::span<const std::byte> in_;
  const char* what_;
  std::size_t at_ = 0;
  std::uint64_t acc_ = 0;
  unsigned filled_ = 0;
};

// bit_writer's format for a coder that knows its encoding's size: appends `bytes` bytes to
// `out` up front and fills them a 32-bit word at a time (a push_back per byte costs a coder
// of cheap fields more than its arithmetic). Fields of 1..32 bits; flush() after the last,
// which must fill the bytes exactly.
// The coder's loop should keep what it reads (its settings, its rng) in locals: a store of a
// std::byte may alias anything, so the compiler reloads members after each.
class sized_bit_writer {
 public:
  sized_bit_writer(std::vector<std::byte>& out, std::size_t bytes) {
    const std::size_t at = out.size();
    out.resize(at + bytes);
    at_ = out.data() + at;
  }
  sized_bit_writer(const sized_bit_writer&) = delete;
  sized_bit_writer& operator=(const sized_bit_writer&) = delete;

  void put(std::uint32_t value, unsigned width) {
    acc_ |= std::uint64_t{value} << filled_;
    filled_ += width;
    if (filled_ >= 32) {
      const auto word = static_cast<std::uint32_t>(acc_);
      if constexpr (std::endian::native == std::endian::little) {
        std::memcpy(at_, &word, 4);
      } else {
        for (unsigned k = 0; k < 4; ++k) at_[k] = static_cast<std::byte>((word >> (8 * k)) & 0xffu);
      }
      at_ += 4;
      acc_ >>= 32;
      filled_ -= 32;
    }
  }
  // Writes the last bits, the last byte padded with zero bits.
  void flush() {
    for (; filled_ > 0; filled_ = filled_ > 8 ? filled_ - 8 : 0) {
      *at_++ = static_cast<std::byte>(acc_ & 0xffu);
      acc_ >>= 8;
    }
  }

 private:
  std::byte* at_ = nullptr;
  std::uint64_t acc_ = 0;
  unsigned filled_ = 0;
};

// Reads what bit_writer wrote from bytes whose size the caller has checked against the fields
// it reads (require_encoded_size), so without bounds checks of its own.
class sized_bit_reader {
 public:
  explicit sized_bit_reader(std::span<const std::byte> in) : in_(in.data()) {}

  std::uint32_t get(unsigned width) {
    while (filled_ < width) {
      acc_ |= std::uint64_t{static_cast<std::uint8_t>(*in_++)} << filled_;
      filled_ += 8;
    }
    const auto v = static_cast<std::uint32_t>(acc_ & ((std::uint64_t{1} << width) - 1));
    acc_ >>= width;
    filled_ -= width;
    return v;
  }

 private:
  const std::byte* in_;
  std::uint64_t acc_ = 0;
  unsigned filled_ = 0;
};

// Checks that an encoding of `n` values has the size the quantizer promises.
inline void require_encoded_size(const char* quantizer, std::size_t got, std::size_t bits, std::size_t n) {
  const std::size_t want = (bits + 7) / 8;
  if (got != want) {
    throw std::invalid_argument(std::string("asgd: ") + quantizer + " cannot decode " + std::to_string(got) +
                                " bytes into " + std::to_string(n) + " floats (expects " + std::to_string(want) +
                                ")");
  }
}

// Encodes each float as one 16-bit field (`to16`), and decodes such an encoding with `from16`:
// the wire format of the 16-bit float quantizers.
template <class To16>
void encode_16bit(std::span<const float> x, std::vector<std::byte>& out, To16 to16) {
  bit_writer w(out);
  for (float v : x) w.put(to16(v), 16);
}
template <class From16>
void decode_16bit(const char* quantizer, std::span<const std::byte> bytes, std::span<float> out, From16 from16) {
  require_encoded_size(quantizer, bytes.size(), 16 * out.size(), out.size());
  bit_reader r(bytes, quantizer);
  for (float& v : out) v = from16(static_cast<std::uint16_t>(r.get(16)));
}

}  // namespace asgd::inline v0::detail
