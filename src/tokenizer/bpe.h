// Byte-level BPE over raw token bytes. Two merge rules share one O(n log n) merge loop:
// tiktoken (merge the adjacent pair whose concatenation has the lowest rank = id) and Hugging Face
// (merge the adjacent pair with the lowest index in the merges list).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace autoglm {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class BpeModel {
  public:
    enum class MergeRule { kTiktokenRanks, kMergeList };

    explicit BpeModel(MergeRule rule) : rule_(rule) {
        for (int32_t& id : byte_ids_) id = -1;
    }

    // Registers token `id` with raw bytes; ids may be sparse. False on a duplicate.
    bool add_token(int32_t id, std::string bytes);
    // kMergeList: the next merge (left + right -> their concatenation), in priority order.
    // False when a side or the result is not a token.
    bool add_merge(std::string_view left, std::string_view right);
    // Emit a piece that is itself a token directly, skipping merges (tiktoken; HF ignore_merges).
    void set_ignore_merges(bool ignore) { ignore_merges_ = ignore; }
    // Every single byte must be a token for encoding to be total; returns the first missing byte.
    int missing_byte() const;

    // Appends the ids of one pre-tokenized piece of raw bytes.
    void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

    int32_t find(std::string_view bytes) const;  // -1 when absent
    const std::string& bytes(int32_t id) const { return id_to_bytes_[static_cast<size_t>(id)]; }
    bool has_id(int32_t id) const {
        return id >= 0 && static_cast<size_t>(id) < present_.size() &&
               present_[static_cast<size_t>(id)];
    }
    int32_t max_id() const { return static_cast<int32_t>(id_to_bytes_.size()) - 1; }
    size_t num_tokens() const { return bytes_to_id_.size(); }

  private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    // Rank and result of merging two adjacent parts, or rank -1 when they cannot merge.
    Merge merge_of(std::string_view piece, size_t left_begin, int32_t left_id, size_t mid,
                   size_t right_end, int32_t right_id) const;

    MergeRule rule_;
    bool ignore_merges_ = false;
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> bytes_to_id_;
    std::vector<std::string> id_to_bytes_;
    std::vector<bool> present_;
    std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> merge
    int32_t byte_ids_[256];
};

}  // namespace autoglm
