// The FP8 vision tower emulated on the CPU, for golden tests: the GPU's --fp8-vision rules
// (CudaModelOptions::fp8_vision) in f32 — the blocks' qkv, proj, gate, up and down weights
// rounded to e4m3 per output row (cpu::fp8_round_rows) and the inputs of those layers per row
// (Glm4vVisionModel::set_fp8_block_inputs); the GPU also rounds to bf16 where it stores bf16.
#pragma once

#include <memory>
#include <vector>

#include "core/dtype.h"
#include "kernels/ops.h"
#include "model/glm4v/model.h"

namespace autoglm::testing {

class Fp8EmulatedVision {
  public:
    explicit Fp8EmulatedVision(const Glm4vModel& model) : weights_(model.weights().vision) {
        store_.reserve(5 * weights_.blocks.size());
        for (VisionBlockWeights& b : weights_.blocks)
            for (TensorView* t : {&b.qkv_weight, &b.proj_weight, &b.gate_proj_weight,
                                  &b.up_proj_weight, &b.down_proj_weight}) {
                std::vector<float> v(static_cast<size_t>(t->numel()));
                to_f32(t->dtype, t->data, v.data(), v.size());
                cpu::fp8_round_rows(v.data(), t->shape[0], t->numel() / t->shape[0]);
                store_.push_back(std::move(v));
                *t = TensorView{DType::kF32, t->shape, store_.back().data()};
            }
        tower_ = std::make_unique<Glm4vVisionModel>(model.config().vision, weights_);
        tower_->set_fp8_block_inputs(true);
    }
    const Glm4vVisionModel& tower() const { return *tower_; }

  private:
    VisionWeights weights_;
    std::vector<std::vector<float>> store_;  // the rounded weights, as f32
    std::unique_ptr<Glm4vVisionModel> tower_;
};

}  // namespace autoglm::testing
