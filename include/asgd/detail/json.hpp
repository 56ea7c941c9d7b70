#pragma once
// Internal: a small streaming JSON writer (objects, arrays, strings, numbers), enough for
// reports; NaN and infinities become null, as JSON has no spelling for them.

#include <asgd/version.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::detail {

class json_writer {
 public:
  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  json_writer& key(std::string_view k) {
    separate();
    string(k);
    out_ += ": ";
    after_key_ = true;
    return *this;
  }

  json_writer& value(std::string_view s) {
    separate();
    string(s);
    return *this;
  }
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(bool b) {
    separate();
    out_ += b ? "true" : "false";
    return *this;
  }
  json_writer& value(double d) {
    separate();
    if (!std::isfinite(d)) {
      out_ += "null";
    } else {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", d);
      out_ += buf;
    }
    return *this;
  }
  json_writer& value(float f) { return value(static_cast<double>(f)); }
  json_writer& value(std::uint64_t u) {
    separate();
    out_ += std::to_string(u);
    return *this;
  }
  json_writer& value(std::int64_t i) {
    separate();
    out_ += std::to_string(i);
    return *this;
  }
  json_writer& value(unsigned u) { return value(std::uint64_t{u}); }
  json_writer& value(int i) { return value(std::int64_t{i}); }

  template <class T>
  json_writer& field(std::string_view k, const T& v) {
    return key(k).value(v);
  }

  template <class Range>
  json_writer& array(std::string_view k, const Range& r) {
    key(k).begin_array();
    for (const auto& v : r) value(v);
    return end_array();
  }

  [[nodiscard]] const std::string& str() const noexcept { return out_; }

 private:
  json_writer& open(char c) {
    separate();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  json_writer& close(char c) {
    first_.pop_back();
    out_ += c;
    return *this;
  }
  void separate() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ", ";
      first_.back() = false;
    }
  }
  void string(std::string_view s) {
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        case '\r': out_ += "\\r"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out_ += buf;
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace asgd::inline v0::detail
