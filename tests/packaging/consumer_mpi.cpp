// The MPI consumer: asgd::mpi and asgd::problems (a reference problem), one node per rank (run
// alone: 1 rank).
#include <asgd/consistency/leashed.hpp>
#include <asgd/problems/synthetic.hpp>
#include <asgd/topology/ring.hpp>
#include <asgd/trainer.hpp>
#include <asgd/transport/mpi.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  asgd::transport::mpi::environment env(argc, argv);
  auto inst = asgd::problems::make_least_squares(500, 5, 0.0, 1);
  asgd::trainer<asgd::problems::least_squares, asgd::consistency::leashed, asgd::topology::ring,
                asgd::transport::mpi>
      t{inst.problem, {.threads = 2, .epochs = 20, .batch = 5, .lr = 0.002f}};
  const auto r = t.run();
  std::printf("asgd over MPI, rank %zu of %zu: final loss %g\n", r.node->node, r.node->nodes,
              r.final_evaluation->loss);
  return r.final_evaluation->loss < 1e-3 ? 0 : 1;
}
