// Real data through the library API: Leashed-SGD's CNN on Fashion-MNIST (Debian's
// dataset-fashion-mnist), two HOGWILD! workers, one epoch, evaluated on the test set.
//
//   asgd-example-fashion-mnist [DIR]    DIR holds {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
#include <asgd/consistency/hogwild.hpp>
#include <asgd/data/images.hpp>
#include <asgd/problems/network.hpp>
#include <asgd/trainer.hpp>
#include <asgd/update/momentum.hpp>

#include <cstdio>
#include <exception>
#include <memory>

int main(int argc, char** argv) try {
  // [example-begin data]
  asgd::data::train_test d = argc > 1 ? asgd::data::load_mnist_like(argv[1]) : asgd::data::load_mnist_like();
  asgd::data::standardize(d);  // zero mean, unit variance, from the training set
  auto train = std::make_shared<const asgd::data::image_set>(std::move(d.train));
  auto test = std::make_shared<const asgd::data::image_set>(std::move(d.test));
  const asgd::problems::network cnn = asgd::problems::make_cnn(train, test);
  // [example-end data]

  // [example-begin train]
  asgd::trainer<asgd::problems::network, asgd::consistency::hogwild, asgd::update::momentum> t{
      cnn, {.threads = 2, .epochs = 1, .batch = 16, .lr = 0.01f}};
  const asgd::report r = t.run();  // evaluates the final model on the test set
  // [example-end train]

  std::printf("CNN, %zu parameters: test accuracy %.3f after %llu updates, %.0f samples/s\n", cnn.dimension(),
              r.final_evaluation->accuracy, static_cast<unsigned long long>(r.updates_applied),
              r.samples_per_second);
  return r.final_evaluation->accuracy > 0.80 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
}
