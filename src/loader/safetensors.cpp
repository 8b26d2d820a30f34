// Safetensors parsing and validation. Layout: u64 little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data.
#include "loader/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace autoglm {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 16;  // real headers nest 3 deep
constexpr int64_t kMaxDim = int64_t{1} << 40;

// Rejects pathological nesting before handing the text to the JSON parser.
bool nesting_within(const unsigned char* p, size_t n, int max_depth) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < n; ++i) {
        const unsigned char c = p[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) return false;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return true;
}

bool as_u64(const json& v, uint64_t& out) {
    if (!v.is_number_unsigned()) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0) return false;
    }
    out = v.get<uint64_t>();
    return true;
}

Result<SafetensorsEntry> parse_entry(const json& spec, uint64_t data_size) {
    if (!spec.is_object()) return Error{"entry is not a JSON object"};
    const auto dtype_it = spec.find("dtype");
    const auto shape_it = spec.find("shape");
    const auto offsets_it = spec.find("data_offsets");
    if (dtype_it == spec.end() || !dtype_it->is_string()) return Error{"missing string 'dtype'"};
    if (shape_it == spec.end() || !shape_it->is_array()) return Error{"missing array 'shape'"};
    if (offsets_it == spec.end() || !offsets_it->is_array() || offsets_it->size() != 2)
        return Error{"'data_offsets' must be an array of two integers"};
    SafetensorsEntry e;
    const std::string dtype_name = dtype_it->get<std::string>();
    const auto dtype = dtype_from_name(dtype_name);
    if (!dtype)
        return Error{"unsupported dtype '" + dtype_name +
                     "' (F32, F16, BF16, I64, I32, U8, F8_E4M3)"};
    e.dtype = *dtype;
    uint64_t numel = 1;
    for (const json& d : *shape_it) {
        uint64_t dim = 0;
        if (!as_u64(d, dim) || dim > static_cast<uint64_t>(kMaxDim))
            return Error{"shape entries must be non-negative integers below 2^40"};
        e.shape.push_back(static_cast<int64_t>(dim));
        if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / dim)
            return Error{"shape " + shape_to_string(e.shape) + " overflows"};
        numel *= dim;
    }
    if (!as_u64((*offsets_it)[0], e.begin) || !as_u64((*offsets_it)[1], e.end))
        return Error{"'data_offsets' must be non-negative integers"};
    if (e.begin > e.end) return Error{"data_offsets begin > end"};
    if (e.end > data_size)
        return Error{"data_offsets end " + std::to_string(e.end) + " is past the data section (" +
                     std::to_string(data_size) + " bytes): file truncated?"};
    const uint64_t expected = numel * dtype_size(e.dtype);
    if (e.end - e.begin != expected)
        return Error{"byte range " + std::to_string(e.end - e.begin) + " does not match " +
                     dtype_name + " " + shape_to_string(e.shape) + " (" + std::to_string(expected) +
                     " bytes)"};
    return e;
}

Status check_overlaps(const std::map<std::string, SafetensorsEntry>& entries) {
    std::vector<std::pair<const std::string*, const SafetensorsEntry*>> sorted;
    for (const auto& [name, e] : entries)
        if (e.end > e.begin) sorted.emplace_back(&name, &e);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
    for (size_t i = 1; i < sorted.size(); ++i) {
        if (sorted[i].second->begin < sorted[i - 1].second->end)
            return Error{"tensor '" + *sorted[i].first + "': byte range overlaps tensor '" +
                         *sorted[i - 1].first + "'"};
    }
    return {};
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return mapped.error();
    auto parsed = parse(mapped.value().data(), mapped.value().size(), path);
    if (!parsed) return parsed.error();
    SafetensorsFile file = std::move(parsed).value();
    file.file_ = std::move(mapped).value();  // the mapping's address does not change on move
    return file;
}

Result<SafetensorsFile> SafetensorsFile::parse(const unsigned char* bytes, size_t size,
                                               const std::string& name) {
    auto fail = [&](const std::string& msg) { return Error{name + ": " + msg}; };
    if (size < 8) return fail("truncated: shorter than the 8-byte header length");
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
    if (header_len == 0) return fail("header length is 0");
    if (header_len > kMaxHeaderBytes)
        return fail("header length " + std::to_string(header_len) + " exceeds the 100 MiB cap");
    if (header_len > size - 8)
        return fail("truncated: header length " + std::to_string(header_len) + " but only " +
                    std::to_string(size - 8) + " bytes follow");
    const unsigned char* header = bytes + 8;
    if (!nesting_within(header, header_len, kMaxJsonDepth))
        return fail("header JSON nests deeper than " + std::to_string(kMaxJsonDepth));
    const json root = json::parse(header, header + header_len, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) return fail("header is not valid JSON");
    if (!root.is_object()) return fail("header is not a JSON object");

    SafetensorsFile file;
    file.path_ = name;
    file.data_section_ = header + header_len;
    const uint64_t data_size = size - 8 - header_len;
    for (const auto& [key, value] : root.items()) {
        if (key == "__metadata__") {
            if (!value.is_object()) return fail("__metadata__ is not an object");
            for (const auto& [mk, mv] : value.items()) {
                if (!mv.is_string()) return fail("__metadata__ value '" + mk + "' is not a string");
                file.metadata_[mk] = mv.get<std::string>();
            }
            continue;
        }
        if (key.empty()) return fail("tensor with an empty name");
        auto entry = parse_entry(value, data_size);
        if (!entry) return fail("tensor '" + key + "': " + entry.error().message);
        file.entries_[key] = std::move(entry).value();
    }
    if (Status s = check_overlaps(file.entries_); !s) return fail(s.error_message());
    return file;
}

TensorView SafetensorsFile::view(const std::string& name) const {
    const auto it = entries_.find(name);
    CHECK(it != entries_.end()) << path_ << ": no tensor " << name;
    return TensorView{it->second.dtype, it->second.shape, data_section_ + it->second.begin};
}

}  // namespace autoglm
