// BpeModel: the merge loop keeps the parts of a piece in a linked list and candidate merges in a
// min-heap keyed by (rank, position); stale candidates are skipped by re-checking the parts.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>

namespace autoglm {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}

struct Part {
    size_t begin;
    size_t end;
    int32_t id;
    int32_t prev;  // index of the previous live part, -1 at the start
    int32_t next;  // index of the next live part, -1 at the end
    bool live;
};

struct Candidate {
    int32_t rank;
    int32_t left;  // part index
    size_t left_end;
    size_t right_end;
    bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : left > o.left;
    }
};

}  // namespace

bool BpeModel::add_token(int32_t id, std::string bytes) {
    if (id < 0 || bytes.empty()) return false;
    if (bytes_to_id_.count(bytes) || has_id(id)) return false;
    if (static_cast<size_t>(id) >= id_to_bytes_.size()) {
        id_to_bytes_.resize(static_cast<size_t>(id) + 1);
        present_.resize(static_cast<size_t>(id) + 1, false);
    }
    id_to_bytes_[static_cast<size_t>(id)] = bytes;
    present_[static_cast<size_t>(id)] = true;
    if (bytes.size() == 1) byte_ids_[static_cast<unsigned char>(bytes[0])] = id;
    bytes_to_id_.emplace(std::move(bytes), id);
    return true;
}

bool BpeModel::add_merge(std::string_view left, std::string_view right) {
    const int32_t l = find(left), r = find(right);
    std::string joined(left);
    joined += right;
    const int32_t result = find(joined);
    if (l < 0 || r < 0 || result < 0) return false;
    merges_.emplace(pair_key(l, r), Merge{static_cast<int32_t>(merges_.size()), result});
    return true;
}

int BpeModel::missing_byte() const {
    for (int b = 0; b < 256; ++b)
        if (find(std::string_view(reinterpret_cast<const char*>(&b), 1)) < 0) return b;
    return -1;
}

int32_t BpeModel::find(std::string_view bytes) const {
    const auto it = bytes_to_id_.find(bytes);
    return it == bytes_to_id_.end() ? -1 : it->second;
}

BpeModel::Merge BpeModel::merge_of(std::string_view piece, size_t left_begin, int32_t left_id,
                                   size_t mid, size_t right_end, int32_t right_id) const {
    (void)mid;
    if (rule_ == MergeRule::kTiktokenRanks) {
        const int32_t id = find(piece.substr(left_begin, right_end - left_begin));
        return Merge{id, id};
    }
    const auto it = merges_.find(pair_key(left_id, right_id));
    return it == merges_.end() ? Merge{-1, -1} : it->second;
}

void BpeModel::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    if (piece.empty()) return;
    if (ignore_merges_ || rule_ == MergeRule::kTiktokenRanks) {
        if (const int32_t whole = find(piece); whole >= 0) {
            out.push_back(whole);
            return;
        }
    }
    std::vector<Part> parts(piece.size());
    for (size_t i = 0; i < piece.size(); ++i) {
        parts[i] = Part{i,
                        i + 1,
                        byte_ids_[static_cast<unsigned char>(piece[i])],
                        static_cast<int32_t>(i) - 1,
                        i + 1 < piece.size() ? static_cast<int32_t>(i + 1) : -1,
                        true};
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push = [&](int32_t left) {
        const Part& a = parts[static_cast<size_t>(left)];
        if (a.next < 0) return;
        const Part& b = parts[static_cast<size_t>(a.next)];
        const Merge m = merge_of(piece, a.begin, a.id, a.end, b.end, b.id);
        if (m.rank >= 0) heap.push(Candidate{m.rank, left, a.end, b.end});
    };
    for (size_t i = 0; i + 1 < piece.size(); ++i) push(static_cast<int32_t>(i));
    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Part& a = parts[static_cast<size_t>(c.left)];
        // Stale if either part changed since the candidate was pushed.
        if (!a.live || a.end != c.left_end || a.next < 0) continue;
        Part& b = parts[static_cast<size_t>(a.next)];
        if (b.end != c.right_end) continue;
        a.id = merge_of(piece, a.begin, a.id, a.end, b.end, b.id).result;
        a.end = b.end;
        a.next = b.next;
        b.live = false;
        if (a.next >= 0) parts[static_cast<size_t>(a.next)].prev = c.left;
        if (a.prev >= 0) push(a.prev);
        push(c.left);
    }
    for (int32_t i = 0; i >= 0; i = parts[static_cast<size_t>(i)].next)
        out.push_back(parts[static_cast<size_t>(i)].id);
}

}  // namespace autoglm
