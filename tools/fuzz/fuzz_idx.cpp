// libFuzzer target: the IDX reader (gunzip + parse + image/label checks) on arbitrary bytes.
// Any outcome but a data_error is a bug: a crash, a sanitizer report, another exception.
#include <asgd/data/images.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t dims = data[0] % 2 == 0 ? 3 : 1;  // the first byte picks images or labels
  try {
    const auto bytes = asgd::data::gunzip_if_compressed(std::span(data + 1, size - 1), "fuzz", std::size_t{1} << 24);
    const auto a = asgd::data::parse_idx(bytes, dims, "fuzz");
    if (dims == 3) {
      asgd::data::idx_array labels;
      labels.dims = {a.dims[0]};
      labels.values.assign(a.dims[0], static_cast<std::uint8_t>(data[0] % 12));
      (void)asgd::data::make_image_set(a, labels, 10, "fuzz", "fuzz-labels");
    }
  } catch (const asgd::data::data_error&) {
  }
  return 0;
}
