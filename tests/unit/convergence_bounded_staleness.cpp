#include "convergence.hpp"

ASGD_CONVERGENCE_TESTS(asgd::consistency::bounded_staleness<2>)
