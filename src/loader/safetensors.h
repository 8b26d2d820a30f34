// Safetensors reader: an mmap'd file whose JSON header is fully validated up front (offsets,
// sizes, overlaps, dtypes), so every later tensor access is in bounds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/tensor.h"
#include "loader/mapped_file.h"

namespace autoglm {

struct SafetensorsEntry {
    DType dtype = DType::kF32;
    Shape shape;
    uint64_t begin = 0;  // byte offsets relative to the start of the data section
    uint64_t end = 0;
};

class SafetensorsFile {
  public:
    // Header size cap: real headers are < 1 MiB even for sharded 100B-parameter checkpoints.
    static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

    static Result<SafetensorsFile> open(const std::string& path);
    // Parses an in-memory image (used by open and by the fuzzer); `bytes` must outlive the views.
    static Result<SafetensorsFile> parse(const unsigned char* bytes, size_t size,
                                         const std::string& name);

    const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    bool contains(const std::string& name) const { return entries_.count(name) != 0; }
    // View of a tensor's bytes inside the mapping (may be unaligned for its dtype).
    TensorView view(const std::string& name) const;
    const std::string& path() const { return path_; }

  private:
    MappedFile file_;
    const unsigned char* data_section_ = nullptr;
    std::map<std::string, SafetensorsEntry> entries_;
    std::map<std::string, std::string> metadata_;
    std::string path_;
};

}  // namespace autoglm
