// A problem that cannot be copied (each worker needs its own copy): clause 4.
// expect: asgd: the problem violates clause 4 of asgd::problem
#include <asgd/trainer.hpp>

#include <memory>
#include <span>

struct owning {
#ifdef ASGD_COMPILE_FAIL_OK
  std::shared_ptr<int> data = std::make_shared<int>(1);
#else
  std::unique_ptr<int> data = std::make_unique<int>(1);
#endif
  std::size_t dimension() const { return 1; }
  std::size_t num_samples() const { return 1; }
  float gradient(std::span<const float> x, asgd::batch_view, std::span<float> g) const {
    g[0] = x[0];
    return x[0] * x[0];
  }
};

int main() {
  asgd::trainer<owning> t{owning{}};
  return t.config().threads == 1 ? 0 : 1;
}
