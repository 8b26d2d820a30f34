// Checkpoint: a Hugging Face model folder's safetensors weights, one file (model.safetensors) or
// sharded (model.safetensors.index.json + shards), all mmap'd and validated at open.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "loader/safetensors.h"
#include "loader/weight_source.h"

namespace autoglm {

// FP8 checkpoints (vLLM's layout: `quantization_config.quant_method` "fp8" in config.json): a
// tensor stored as F8_E4M3, "<base>weight", comes back dequantized to bf16, each value e4m3 times
// the scale from "<base>weight_scale" (F32; one for the tensor, shape [] or [1], or one per output
// row, [rows] or [rows, 1]); "<base>input_scale" (static activation scales) is accepted and not
// used: activations are scaled per token when they are quantized at all.
class Checkpoint final : public WeightSource {
  public:
    static Result<std::unique_ptr<Checkpoint>> open(const std::string& dir);

    bool contains(const std::string& name) const override;
    Result<TensorView> get(const TensorRequest& request) override;
    // Every tensor name, less the scales of the FP8 tensors fetched so far (they are part of
    // those tensors).
    std::vector<std::string> names() const override;
    std::string describe() const override;
    size_t num_files() const { return files_.size(); }

  private:
    Status add_file(const std::string& dir, const std::string& file_name);
    Result<TensorView> dequantize_fp8(const std::string& name, const TensorView& codes,
                                      const std::string& path);

    std::string dir_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, size_t> tensor_file_;  // tensor name -> index into files_
    // Copies of tensors whose mapped bytes are not aligned to their element size.
    // and of FP8 tensors dequantized.
    std::vector<std::unique_ptr<uint64_t[]>> aligned_copies_;
    std::set<std::string> consumed_;  // scale tensors applied to FP8 tensors
};

}  // namespace autoglm
