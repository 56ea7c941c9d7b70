// The one translation unit that compiles asgd's functions that are not templates: the program
// defines ASGD_SEPARATE_COMPILATION in all its translation units (examples/CMakeLists.txt), so
// the trainer's translation unit does not compile them again.
// [example-begin separate]
#include <asgd/src.hpp>
// [example-end separate]
