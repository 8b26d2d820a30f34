// WeightSource: where model weights come from. The model walks its one weights list and asks the
// source for each tensor by name and expected shape; a checkpoint checks it, a dummy source makes
// it.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "core/tensor.h"

namespace autoglm {

// How a dummy source initializes a tensor (a checkpoint ignores it).
enum class WeightInit { kLinear, kEmbedding, kNorm, kBias };

struct TensorRequest {
    std::string name;
    Shape shape;
    WeightInit init = WeightInit::kLinear;
};

class WeightSource {
  public:
    virtual ~WeightSource() = default;
    virtual bool contains(const std::string& name) const = 0;
    // The tensor `name` with exactly `request.shape`, in a float dtype, suitably aligned.
    virtual Result<TensorView> get(const TensorRequest& request) = 0;
    // Every tensor name the source holds (empty for generated sources).
    virtual std::vector<std::string> names() const = 0;
    virtual std::string describe() const = 0;
};

}  // namespace autoglm
