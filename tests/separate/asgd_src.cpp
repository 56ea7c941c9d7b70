// asgd's non-template functions, compiled once for test_separate_compilation.
#include <asgd/src.hpp>
