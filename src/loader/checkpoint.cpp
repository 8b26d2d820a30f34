// Checkpoint: resolves the folder layout, opens every shard once and cross-checks the index.
#include "loader/checkpoint.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "core/file.h"
#include "core/logging.h"
#include "core/parallel.h"

namespace autoglm {
namespace {

namespace fs = std::filesystem;
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// A shard name from an index must be a plain file name inside the checkpoint folder.
bool is_plain_file_name(const std::string& name) {
    return !name.empty() && name.find('/') == std::string::npos &&
           name.find('\\') == std::string::npos && name != "." && name != "..";
}

}  // namespace

Result<std::unique_ptr<Checkpoint>> Checkpoint::open(const std::string& dir) {
    auto ckpt = std::unique_ptr<Checkpoint>(new Checkpoint());
    ckpt->dir_ = dir;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return Error{dir + ": not a directory"};
    const std::string index_path = (fs::path(dir) / kIndexFile).string();
    if (fs::exists(index_path, ec)) {
        auto text = read_file(index_path);
        if (!text) return text.error();
        const auto index = nlohmann::json::parse(text.value(), nullptr, false);
        if (index.is_discarded() || !index.is_object())
            return Error{index_path + ": not valid JSON"};
        const auto map_it = index.find("weight_map");
        if (map_it == index.end() || !map_it->is_object())
            return Error{index_path + ": missing object 'weight_map'"};
        std::map<std::string, size_t> file_ids;
        for (const auto& [tensor, file] : map_it->items()) {
            if (!file.is_string() || !is_plain_file_name(file.get<std::string>()))
                return Error{index_path + ": tensor '" + tensor + "' maps to an invalid file name"};
            const std::string file_name = file.get<std::string>();
            if (!file_ids.count(file_name)) {
                if (Status s = ckpt->add_file(dir, file_name); !s) return Error{s.error_message()};
                file_ids[file_name] = ckpt->files_.size() - 1;
            }
            const size_t id = file_ids[file_name];
            if (!ckpt->files_[id].contains(tensor))
                return Error{index_path + ": tensor '" + tensor + "' is listed in " + file_name +
                             " but that file does not hold it"};
            ckpt->tensor_file_[tensor] = id;
        }
        if (ckpt->files_.empty()) return Error{index_path + ": 'weight_map' is empty"};
        return ckpt;
    }
    const std::string single_path = (fs::path(dir) / kSingleFile).string();
    if (!fs::exists(single_path, ec))
        return Error{dir + ": no " + kSingleFile + " or " + kIndexFile + " found"};
    if (Status s = ckpt->add_file(dir, kSingleFile); !s) return Error{s.error_message()};
    for (const auto& [name, entry] : ckpt->files_[0].entries()) ckpt->tensor_file_[name] = 0;
    return ckpt;
}

Status Checkpoint::add_file(const std::string& dir, const std::string& file_name) {
    auto file = SafetensorsFile::open((fs::path(dir) / file_name).string());
    if (!file) return file.error();
    LOG_DEBUG << "opened " << file.value().path() << " (" << file.value().entries().size()
              << " tensors)";
    files_.push_back(std::move(file).value());
    return {};
}

bool Checkpoint::contains(const std::string& name) const {
    return tensor_file_.count(name) != 0;
}

Result<TensorView> Checkpoint::get(const TensorRequest& request) {
    const auto it = tensor_file_.find(request.name);
    if (it == tensor_file_.end())
        return Error{dir_ + ": missing tensor '" + request.name + "' " +
                     shape_to_string(request.shape)};
    const SafetensorsFile& file = files_[it->second];
    TensorView view = file.view(request.name);
    if (view.shape != request.shape)
        return Error{file.path() + ": tensor '" + request.name + "' has shape " +
                     shape_to_string(view.shape) + ", expected " + shape_to_string(request.shape)};
    if (view.dtype == DType::kF8E4M3) return dequantize_fp8(request.name, view, file.path());
    if (view.dtype != DType::kF32 && view.dtype != DType::kBF16 && view.dtype != DType::kF16)
        return Error{file.path() + ": tensor '" + request.name + "' has dtype " +
                     std::string(dtype_name(view.dtype)) +
                     "; weights must be F32, F16, BF16 or F8_E4M3 with a scale"};
    const size_t align = dtype_size(view.dtype);
    if (reinterpret_cast<uintptr_t>(view.data) % align != 0) {
        // NOTE: the format does not promise aligned offsets; keep kernels free of unaligned loads.
        auto copy = std::make_unique<uint64_t[]>((view.nbytes() + 7) / 8);
        std::memcpy(copy.get(), view.data, view.nbytes());
        view.data = copy.get();
        aligned_copies_.push_back(std::move(copy));
    }
    return view;
}

Result<TensorView> Checkpoint::dequantize_fp8(const std::string& name, const TensorView& codes,
                                              const std::string& path) {
    const std::string tail = "weight";
    if (name.size() < tail.size() || name.compare(name.size() - tail.size(), tail.size(), tail))
        return Error{path + ": tensor '" + name +
                     "' is F8_E4M3; only weights ('...weight' beside a '...weight_scale') may be"};
    const std::string base = name.substr(0, name.size() - tail.size());
    const std::string scale_name = base + "weight_scale";
    const auto it = tensor_file_.find(scale_name);
    if (it == tensor_file_.end())
        return Error{path + ": FP8 tensor '" + name + "' has no scale tensor '" + scale_name + "'"};
    const TensorView scale = files_[it->second].view(scale_name);
    const int64_t rows = codes.shape.empty() ? 1 : codes.shape[0];
    const bool per_tensor = scale.shape == Shape{} || scale.shape == Shape{1};
    const bool per_row = scale.shape == Shape{rows} || scale.shape == Shape{rows, 1};
    if (scale.dtype != DType::kF32 || (!per_tensor && !per_row))
        return Error{files_[it->second].path() + ": scale tensor '" + scale_name + "' is " +
                     std::string(dtype_name(scale.dtype)) + " " + shape_to_string(scale.shape) +
                     "; expected F32 [] or [1] (per tensor) or [" + std::to_string(rows) +
                     "] or [" + std::to_string(rows) + ", 1] (per output row)"};
    std::vector<float> s(static_cast<size_t>(scale.numel()));
    std::memcpy(s.data(), scale.data, s.size() * sizeof(float));  // the mapping may be unaligned
    for (const float v : s)
        if (!std::isfinite(v) || v < 0.0f)
            return Error{files_[it->second].path() + ": scale tensor '" + scale_name + "' holds " +
                         std::to_string(v) + "; scales must be finite and >= 0"};
    const int64_t total = codes.numel(), cols = rows ? total / rows : 0;
    auto copy = std::make_unique<uint64_t[]>(static_cast<size_t>((total * 2 + 7) / 8));
    auto* out = reinterpret_cast<uint16_t*>(copy.get());
    const auto* in = static_cast<const uint8_t*>(codes.data);
    std::atomic<bool> nan{false};
    parallel_for(
        rows,
        [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
                const float sr = s[per_tensor ? 0 : static_cast<size_t>(r)];
                for (int64_t c = r * cols; c < (r + 1) * cols; ++c) {
                    if ((in[c] & 0x7f) == 0x7f) nan = true;
                    out[c] = f32_to_bf16(e4m3_to_f32(in[c]) * sr);
                }
            }
        },
        16);
    if (nan) return Error{path + ": FP8 tensor '" + name + "' holds NaN codes"};
    consumed_.insert(scale_name);
    if (tensor_file_.count(base + "input_scale")) consumed_.insert(base + "input_scale");
    TensorView view = codes;
    view.dtype = DType::kBF16;
    view.data = copy.get();
    aligned_copies_.push_back(std::move(copy));
    return view;
}

std::vector<std::string> Checkpoint::names() const {
    std::vector<std::string> out;
    out.reserve(tensor_file_.size());
    for (const auto& [name, id] : tensor_file_)
        if (!consumed_.count(name)) out.push_back(name);
    return out;
}

std::string Checkpoint::describe() const {
    return dir_ + " (" + std::to_string(files_.size()) + " safetensors file" +
           (files_.size() == 1 ? "" : "s") + ", " + std::to_string(tensor_file_.size()) +
           " tensors)";
}

}  // namespace autoglm
