#include "convergence.hpp"

ASGD_CONVERGENCE_TESTS(asgd::consistency::replicas)
