// DummyWeights (--load-format dummy): seeded random tensors made on request, for any config, so
// speed and memory can be measured without a checkpoint. Same seed and name -> same values.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "loader/weight_source.h"

namespace autoglm {

class DummyWeights final : public WeightSource {
  public:
    explicit DummyWeights(uint64_t seed, DType dtype = DType::kBF16);

    bool contains(const std::string&) const override { return true; }
    Result<TensorView> get(const TensorRequest& request) override;
    std::vector<std::string> names() const override { return {}; }
    std::string describe() const override;

  private:
    uint64_t seed_;
    DType dtype_;
    std::vector<std::unique_ptr<uint64_t[]>> buffers_;
};

// MemAvailable from /proc/meminfo in bytes (0 when unknown).
uint64_t host_memory_available();

}  // namespace autoglm
