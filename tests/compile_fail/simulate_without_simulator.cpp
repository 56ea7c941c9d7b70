// trainer::simulate's code is in <asgd/sim/simulation.hpp>, so that a trainer never simulated
// does not compile the simulator: calling it without that header names the header.
// expect: asgd: trainer::simulate, record and replay need #include <asgd/sim/simulation.hpp>
#include "tiny_problem.hpp"

#include <asgd/consistency/locked.hpp>
#include <asgd/sim/cost_model.hpp>
#include <asgd/trainer.hpp>

#ifdef ASGD_COMPILE_FAIL_OK
#include <asgd/sim/simulation.hpp>
#endif

int main() {
  asgd::trainer<tiny_problem, asgd::consistency::locked> t{tiny_problem{}, {.threads = 2, .steps = 4}};
  t.simulate(asgd::sim::cost_model::machine());
  return t.run().steps == 4 ? 0 : 1;
}
