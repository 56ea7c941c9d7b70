#pragma once
/// @file
/// The multilayer perceptron of `problems::make_mlp` for the device: its parameter layout, the
/// per-element math of the kernels in <asgd/cuda/mlp.cuh> (bias and ReLU, softmax
/// cross-entropy per sample) as `__host__ __device__` functions, and `reference_mlp_gradient`,
/// the host reference of a device minibatch gradient built from the same functions. Host-only
/// code may include this header; it includes nothing from CUDA.

#include <asgd/cuda/rules.hpp>  // ASGD_HOST_DEVICE
#include <asgd/data/images.hpp>
#include <asgd/types.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::cuda {

/// Layer widths and where each layer's parameters lie in the flat model, as
/// `problems::make_mlp` lays them out: per layer, W (out x in, row-major) then b (out).
struct mlp_layout {
  std::vector<std::size_t> widths;  ///< inputs, hidden..., classes
  std::vector<std::size_t> offsets;  ///< where layer l's W starts; its b follows at + out * in
  std::size_t dimension = 0;

  [[nodiscard]] std::size_t layers() const noexcept { return widths.size() - 1; }
  [[nodiscard]] std::size_t in(std::size_t l) const noexcept { return widths[l]; }
  [[nodiscard]] std::size_t out(std::size_t l) const noexcept { return widths[l + 1]; }
  [[nodiscard]] std::size_t weights(std::size_t l) const noexcept { return offsets[l]; }
  [[nodiscard]] std::size_t bias(std::size_t l) const noexcept { return offsets[l] + out(l) * in(l); }
  /// True when the update range `r` touches layer l's parameters.
  [[nodiscard]] bool touches(std::size_t l, param_range r) const noexcept {
    return offsets[l] < r.end && bias(l) + out(l) > r.begin;
  }
  /// The lowest layer `r` touches, where back-propagation stops (layers() when none).
  [[nodiscard]] std::size_t lowest_touched(param_range r) const noexcept {
    for (std::size_t l = 0; l < layers(); ++l)
      if (touches(l, r)) return l;
    return layers();
  }

  /// The layout of an MLP with these widths. @throws std::invalid_argument for fewer than two
  /// widths or a zero width.
  static mlp_layout of(std::vector<std::size_t> widths) {
    if (widths.size() < 2) throw std::invalid_argument("asgd: cuda::mlp_layout: an MLP needs an input and an output width");
    mlp_layout m;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      if (widths[l] == 0 || widths[l + 1] == 0) {
        throw std::invalid_argument("asgd: cuda::mlp_layout: layer " + std::to_string(l) + " has a zero width");
      }
      m.offsets.push_back(m.dimension);
      m.dimension += widths[l + 1] * widths[l] + widths[l + 1];
    }
    m.widths = std::move(widths);
    return m;
  }

  /// The layout behind a network's block layout (blocks "fcN.weight", "fcN.bias" in order),
  /// with `inputs` values per sample. @throws std::invalid_argument naming the first block that
  /// is not the next dense layer of an MLP (a CNN, say).
  static mlp_layout of(const block_layout& blocks, std::size_t inputs) {
    std::vector<std::size_t> widths{inputs};
    for (std::size_t k = 0; k < blocks.size(); k += 2) {
      const auto fail = [&](const std::string& why) {
        throw std::invalid_argument("asgd: cuda::mlp_layout: block '" + blocks[k].name + "' " + why +
                                    "; the device trains MLPs (dense and ReLU layers) only");
      };
      if (k + 1 >= blocks.size()) fail("has no bias block after it");
      const std::size_t out = blocks[k + 1].range.size();
      if (out == 0 || blocks[k].range.size() != out * widths.back()) {
        fail("is not a dense layer from " + std::to_string(widths.back()) + " inputs");
      }
      widths.push_back(out);
    }
    auto m = of(std::move(widths));
    for (std::size_t l = 0; l < m.layers(); ++l) {
      if (blocks[2 * l].range.begin != m.weights(l) || blocks[2 * l + 1].range.begin != m.bias(l)) {
        throw std::invalid_argument("asgd: cuda::mlp_layout: block '" + blocks[2 * l].name +
                                    "' does not lie where an MLP's layer would");
      }
    }
    return m;
  }

  /// The block layout the host network gives this MLP ("fc1.weight", "fc1.bias", "fc2.weight",
  /// ...), what the block selectors choose among when no host network is at hand.
  [[nodiscard]] block_layout blocks() const {
    block_layout layout;
    for (std::size_t l = 0; l < layers(); ++l) {
      const std::string layer = "fc" + std::to_string(l + 1);
      layout.push_back({layer + ".weight", {weights(l), bias(l)}});
      layout.push_back({layer + ".bias", {bias(l), bias(l) + out(l)}});
    }
    return layout;
  }
};

/// A dense layer's output from its pre-activation `v` and bias: v + bias, through ReLU when
/// `relu` (every layer but the last).
ASGD_HOST_DEVICE inline float bias_activation(float v, float bias, bool relu) {
  const float y = v + bias;
  return relu && y < 0.0f ? 0.0f : y;
}

/// One sample's softmax cross-entropy from its `classes` logits `z`: writes
/// dLoss/dz = (softmax(z) - onehot(label)) * scale into `delta` and returns the loss,
/// log(sum exp(z - max)) - (z[label] - max).
ASGD_HOST_DEVICE inline float softmax_cross_entropy(const float* z, std::size_t classes, std::size_t label, float scale,
                                                    float* delta) {
  float top = z[0];
  for (std::size_t c = 1; c < classes; ++c) top = z[c] > top ? z[c] : top;
  float sum = 0.0f;
  for (std::size_t c = 0; c < classes; ++c) sum += expf(z[c] - top);
  for (std::size_t c = 0; c < classes; ++c) {
    const float p = expf(z[c] - top) / sum;
    delta[c] = (p - (c == label ? 1.0f : 0.0f)) * scale;
  }
  return logf(sum) - (z[label] - top);
}

/// The host reference of the device MLP gradient: forward through every layer, softmax
/// cross-entropy, and back-propagation down to the lowest layer `r` touches, writing the
/// gradient of each layer `r` touches at its offsets in `grad` (model-sized) and returning the
/// batch's mean loss. Plain loops, in the kernels' order of operations.
inline float reference_mlp_gradient(const mlp_layout& m, std::span<const float> x, const data::image_set& set,
                                    std::span<const std::size_t> batch, std::span<float> grad, param_range r) {
  const std::size_t b = batch.size(), layers = m.layers();
  std::vector<std::vector<float>> acts(layers + 1);
  acts[0].resize(b * m.in(0));
  for (std::size_t k = 0; k < b; ++k)
    for (std::size_t j = 0; j < m.in(0); ++j) acts[0][k * m.in(0) + j] = set.value(set.image(batch[k])[j]);
  for (std::size_t l = 0; l < layers; ++l) {
    const float* w = x.data() + m.weights(l);
    const float* bias = x.data() + m.bias(l);
    acts[l + 1].resize(b * m.out(l));
    for (std::size_t k = 0; k < b; ++k)
      for (std::size_t o = 0; o < m.out(l); ++o) {
        float v = 0.0f;
        for (std::size_t j = 0; j < m.in(l); ++j) v += w[o * m.in(l) + j] * acts[l][k * m.in(l) + j];
        acts[l + 1][k * m.out(l) + o] = bias_activation(v, bias[o], l + 1 < layers);
      }
  }
  const std::size_t classes = m.widths.back();
  std::vector<float> delta(b * classes);
  float loss = 0.0f;
  const float scale = 1.0f / static_cast<float>(b);
  for (std::size_t k = 0; k < b; ++k) {
    loss += softmax_cross_entropy(acts[layers].data() + k * classes, classes, set.labels[batch[k]], scale,
                                  delta.data() + k * classes);
  }
  const std::size_t lowest = m.lowest_touched(r);
  for (std::size_t l = layers; l-- > lowest;) {
    const std::size_t in = m.in(l), out = m.out(l);
    if (m.touches(l, r)) {
      float* gw = grad.data() + m.weights(l);
      float* gb = grad.data() + m.bias(l);
      for (std::size_t o = 0; o < out; ++o) {
        for (std::size_t j = 0; j < in; ++j) {
          float s = 0.0f;
          for (std::size_t k = 0; k < b; ++k) s += delta[k * out + o] * acts[l][k * in + j];
          gw[o * in + j] = s;
        }
        float s = 0.0f;
        for (std::size_t k = 0; k < b; ++k) s += delta[k * out + o];
        gb[o] = s;
      }
    }
    if (l == lowest) break;
    // Into the layer's input, through the ReLU below it (its output is acts[l]).
    std::vector<float> below(b * in);
    const float* w = x.data() + m.weights(l);
    for (std::size_t k = 0; k < b; ++k)
      for (std::size_t j = 0; j < in; ++j) {
        float s = 0.0f;
        for (std::size_t o = 0; o < out; ++o) s += delta[k * out + o] * w[o * in + j];
        below[k * in + j] = acts[l][k * in + j] > 0.0f ? s : 0.0f;
      }
    delta = std::move(below);
  }
  return loss * scale;
}

}  // namespace asgd::inline v0::cuda
