// The same decentralized training as 04_nodes.cpp, with each node an MPI process:
//
//   mpirun -np 4 asgd-example-mpi-nodes
//
// Changing the transport is the only difference: one more template argument, and MPI's
// environment at the top of main. Every rank trains on its own shard and gossips with a random
// partner rank every 4 steps; rank 0 prints the result.
#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>
#include <asgd/transport/mpi.hpp>  // link asgd::mpi

#include <cstdio>

int main(int argc, char** argv) {
  // [example-begin mpi]
  asgd::transport::mpi::environment mpi_env(argc, argv);  // MPI_Init_thread ... MPI_Finalize

  using node = asgd::trainer<asgd::problems::logistic_regression, asgd::consistency::hogwild,
                             asgd::topology::random_pairs, asgd::quantize::qsgd<8>,
                             asgd::transport::mpi>;  // node id = MPI rank
  auto data = asgd::problems::make_logistic_regression(/*rows=*/20000, /*cols=*/50, /*seed=*/1);
  node n{data.problem, {.threads = 2, .epochs = 3, .batch = 16, .lr = 0.05f, .averaging = {.every = 4}}};
  const asgd::report r = n.run();
  // [example-end mpi]

  if (r.node->node == 0) {
    std::printf("%zu ranks: rank 0's accuracy %.3f (generating model's %.3f), %llu rounds, %.2f MB sent\n",
                r.node->nodes, r.final_evaluation->accuracy, data.reference_accuracy,
                static_cast<unsigned long long>(r.node->rounds), static_cast<double>(r.node->bytes_sent) / 1e6);
  }
  return r.final_evaluation->accuracy > data.reference_accuracy - 0.02 ? 0 : 1;
}
