// Checkpoint: a Hugging Face model folder's safetensors weights, one file (model.safetensors) or
// sharded (model.safetensors.index.json + shards), all mmap'd and validated at open.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loader/safetensors.h"
#include "loader/weight_source.h"

namespace autoglm {

class Checkpoint final : public WeightSource {
  public:
    static Result<std::unique_ptr<Checkpoint>> open(const std::string& dir);

    bool contains(const std::string& name) const override;
    Result<TensorView> get(const TensorRequest& request) override;
    std::vector<std::string> names() const override;
    std::string describe() const override;
    size_t num_files() const { return files_.size(); }

  private:
    Status add_file(const std::string& dir, const std::string& file_name);

    std::string dir_;
    std::vector<SafetensorsFile> files_;
    std::map<std::string, size_t> tensor_file_;  // tensor name -> index into files_
    // Copies of tensors whose mapped bytes are not aligned to their element size.
    std::vector<std::unique_ptr<uint64_t[]>> aligned_copies_;
};

}  // namespace autoglm
