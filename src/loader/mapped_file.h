// MappedFile: a read-only mmap of a whole file (move-only); the OS pages weights in on demand.
#pragma once

#include <cstddef>
#include <string>

#include "core/result.h"

namespace autoglm {

class MappedFile {
  public:
    static Result<MappedFile> open(const std::string& path);

    MappedFile() = default;
    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;

    const unsigned char* data() const { return data_; }
    size_t size() const { return size_; }
    const std::string& path() const { return path_; }

  private:
    void reset();
    const unsigned char* data_ = nullptr;
    size_t size_ = 0;
    std::string path_;
};

}  // namespace autoglm
