#pragma once
/// @file
/// The checkpoint file format: a versioned, checksummed container of named sections, with a
/// byte writer and a bounds-checked reader that policies use to save and restore their state.
///
/// Layout: the 8 bytes "ASGDCKPT", the format version (u32), the payload size (u64), the
/// payload's CRC-32 (u32, as zlib and gzip compute it), then the payload. Integers are
/// little-endian. A reader never reads past its bytes: every fault is a checkpoint_error naming
/// the file and the fault.

#include <asgd/detail/config.hpp>
#include <asgd/detail/crc32.hpp>
#include <asgd/random.hpp>
#include <asgd/version.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace asgd::inline v0 {

static_assert(std::endian::native == std::endian::little, "asgd: checkpoints assume a little-endian machine");

/// A checkpoint that cannot be used: corrupt, truncated, of another format version, or written
/// by a run that does not match this one. The message names the file and the fault.
class checkpoint_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The current checkpoint format version.
inline constexpr std::uint32_t checkpoint_format = 1;

/// Appends values to a byte buffer.
class byte_writer {
 public:
  void u64(std::uint64_t v) { raw(&v, sizeof v); }
  void f64(double v) { raw(&v, sizeof v); }
  void boolean(bool v) { u64(v ? 1 : 0); }
  void string(std::string_view s) {
    u64(s.size());
    raw(s.data(), s.size());
  }
  void floats(std::span<const float> v) {
    u64(v.size());
    raw(v.data(), v.size_bytes());
  }
  template <class T>
  void integers(std::span<const T> v) {
    u64(v.size());
    for (T x : v) u64(static_cast<std::uint64_t>(x));
  }

  [[nodiscard]] const std::vector<std::uint8_t>& bytes() const noexcept { return bytes_; }

 private:
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  std::vector<std::uint8_t> bytes_;
};

/// Reads values back, checking every length against what is left.
class byte_reader {
 public:
  byte_reader(std::span<const std::uint8_t> bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}

  std::uint64_t u64() {
    std::uint64_t v = 0;
    raw(&v, sizeof v, "an integer");
    return v;
  }
  double f64() {
    double v = 0;
    raw(&v, sizeof v, "a number");
    return v;
  }
  bool boolean() {
    const std::uint64_t v = u64();
    if (v > 1) fail("a flag holds " + std::to_string(v));
    return v == 1;
  }
  ASGD_DECL std::string string();
  /// Reads a float array that must have exactly `out.size()` elements.
  ASGD_DECL void floats(std::span<float> out, std::string_view what);
  /// Reads a float array of any length (bounded by what is left).
  std::vector<float> floats(std::string_view what) {
    std::vector<float> v(length(sizeof(float), what));
    raw(v.data(), v.size() * sizeof(float), what);
    return v;
  }
  template <class T>
  std::vector<T> integers(std::string_view what) {
    std::vector<T> v(length(8, what));
    for (auto& x : v) x = static_cast<T>(u64());
    return v;
  }
  /// Checks that a value read equals what this run has.
  template <class V>
  void expect(const V& found, const V& wanted, std::string_view what) {
    if (found == wanted) return;
    if constexpr (std::is_arithmetic_v<V>) {
      mismatch(what, std::to_string(found), std::to_string(wanted));
    } else {
      mismatch(what, found, wanted);
    }
  }

  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - at_; }
  [[noreturn]] ASGD_DECL void fail(const std::string& what) const;

 private:
  [[noreturn]] ASGD_DECL void mismatch(std::string_view what, const std::string& found,
                                       const std::string& wanted) const;
  ASGD_DECL std::uint64_t length(std::size_t element, std::string_view what);
  void raw(void* p, std::size_t n, std::string_view what) {
    if (n > remaining()) truncated(what);
    if (n > 0) std::memcpy(p, bytes_.data() + at_, n);
    at_ += n;
  }
  [[noreturn]] ASGD_DECL void truncated(std::string_view what) const;

  std::span<const std::uint8_t> bytes_;
  std::string name_;
  std::size_t at_ = 0;
};

namespace detail {
inline constexpr char checkpoint_magic[8] = {'A', 'S', 'G', 'D', 'C', 'K', 'P', 'T'};
inline constexpr std::size_t checkpoint_header = 8 + 4 + 8 + 4;
}  // namespace detail

/// The complete file image of a checkpoint with `payload`.
ASGD_DECL std::vector<std::uint8_t> seal_checkpoint(std::span<const std::uint8_t> payload);

/// Checks a checkpoint's header and checksum; returns its payload.
/// @throws checkpoint_error naming `name`: not a checkpoint, another format version, size or
///         checksum mismatch
ASGD_DECL std::span<const std::uint8_t> open_checkpoint(std::span<const std::uint8_t> file, const std::string& name);

/// Reads a whole file (for open_checkpoint). A std::filesystem::path converts to `path` implicitly.
/// @throws checkpoint_error when it cannot be read
ASGD_DECL std::vector<std::uint8_t> read_checkpoint_file(const std::string& path);

/// Writes a random engine's complete state.
inline void save_rng(const rng& g, byte_writer& w) {
  const auto s = g.save();
  for (auto word : s.words) w.u64(word);
  w.f64(s.spare);
  w.boolean(s.has_spare);
}

/// Restores a random engine written by save_rng.
inline void load_rng(rng& g, byte_reader& r) {
  rng::snapshot s{};
  for (auto& word : s.words) word = r.u64();
  s.spare = r.f64();
  s.has_spare = r.boolean();
  g.restore(s);
}

/// An update rule or block selector whose per-worker state can be checkpointed:
/// `p.save(const state&, byte_writer&)` and `p.load(state&, byte_reader&)` (the state passed to
/// load was made by make_state for the same run).
template <class P>
concept checkpointable_policy = requires(const P& p, const typename P::state& cs, typename P::state& s,
                                         byte_writer& w, byte_reader& r) {
  p.save(cs, w);
  p.load(s, r);
};

}  // namespace asgd::inline v0

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/checkpoint.ipp>
#endif
