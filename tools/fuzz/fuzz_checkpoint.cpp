// libFuzzer target: the checkpoint reader, through a real trainer's resume. Inputs whose first
// byte is even are taken as a payload and sealed with a valid header and CRC first, so the
// mutations reach the parser instead of stopping at the checksum. Any outcome but success or a
// checkpoint_error is a bug.
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>

namespace {

using trainer_t = asgd::trainer<asgd::problems::least_squares, asgd::consistency::sequential, asgd::update::momentum,
                                asgd::select::random_block>;

const asgd::problems::least_squares& problem() {
  static const auto inst = asgd::problems::make_least_squares(32, 4, 0.1, 1);
  return inst.problem;
}

const std::filesystem::path& scratch() {
  static const auto p = std::filesystem::temp_directory_path() / ("asgd_fuzz_" + std::to_string(::getpid()) + ".ckpt");
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<std::uint8_t> file;
  if (data[0] % 2 == 0)
    file = asgd::seal_checkpoint(std::span(data + 1, size - 1));
  else
    file.assign(data + 1, data + size);
  std::ofstream(scratch(), std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  trainer_t t{problem(), {.steps = 8, .batch = 4}};
  t.resume_from(scratch());
  try {
    t.run();
  } catch (const asgd::checkpoint_error&) {
  }
  return 0;
}
