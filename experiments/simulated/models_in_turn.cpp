// Does a node that shares a core with others start its steps on a cold cache? One thread takes
// the MLP's training steps (a gradient at batch 16 and a momentum update of its 101,770
// parameters) on one model, then on 4 models in turn (as 4 nodes pinned to one core do), 2,000
// steps each, alternating 21 times; prints the per-step times and the ratio's median and range.
//
//   g++ -std=c++20 -O3 -march=native -DNDEBUG -Iinclude -isystem /usr/include/eigen3 \
//       experiments/simulated/models_in_turn.cpp -o /tmp/models_in_turn -lz && /tmp/models_in_turn
#include <asgd/data/images.hpp>
#include <asgd/problems.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

int main() {
  auto sets = asgd::data::load_mnist_like();
  auto train = std::make_shared<const asgd::data::image_set>(std::move(sets.train));
  auto test = std::make_shared<const asgd::data::image_set>(std::move(sets.test));
  constexpr std::size_t models = 4, batch = 16, steps = 2000, rounds = 21;
  std::vector<asgd::problems::network> nets;
  for (std::size_t k = 0; k < models; ++k) nets.push_back(asgd::problems::make_mlp(train, test));
  const std::size_t d = nets[0].dimension();
  std::vector<std::vector<float>> x(models, std::vector<float>(d)), v(models, std::vector<float>(d, 0.0f)),
      g(models, std::vector<float>(d, 0.0f));
  for (std::size_t k = 0; k < models; ++k) nets[k].initialize(x[k], 1);
  std::vector<std::size_t> rows(batch);
  // Microseconds a step, over `in_turn` models taken one step each in turn.
  auto run = [&](std::size_t in_turn) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t s = 0; s < steps; ++s) {
      const std::size_t k = s % in_turn;
      for (std::size_t i = 0; i < batch; ++i) rows[i] = (s * batch + i) % train->size();
      nets[k].gradient(x[k], asgd::batch_view(rows), g[k]);
      for (std::size_t i = 0; i < d; ++i) {
        v[k][i] = 0.9f * v[k][i] + g[k][i];
        x[k][i] -= 0.01f * v[k][i];
      }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps * 1e6;
  };
  run(1);
  run(models);  // warm-up
  std::vector<double> ratios;
  for (std::size_t r = 0; r < rounds; ++r) {
    const double one = run(1), turn = run(models);
    ratios.push_back(turn / one);
    std::printf("one model %.0f us, %zu in turn %.0f us\n", one, models, turn);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("in turn / one model: median %.2f (%.2f-%.2f) over %zu rounds\n", ratios[rounds / 2], ratios.front(),
              ratios.back(), rounds);
}
