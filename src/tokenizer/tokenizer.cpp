// Tokenizer: encode = added-token scan -> regex split -> BPE per piece; decode = concatenated
// bytes.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <sstream>

#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

bool Tokenizer::add_token(AddedToken token) {
    for (AddedToken& t : added_) {
        if (t.id == token.id) {
            t = std::move(token);
            index_added_tokens();
            return true;
        }
    }
    if (bpe_.has_id(token.id) && bpe_.bytes(token.id) != token.content) return false;
    if (token.content.empty()) return false;
    added_.push_back(std::move(token));
    index_added_tokens();
    return true;
}

void Tokenizer::index_added_tokens() {
    for (auto& list : added_by_first_byte_) list.clear();
    for (size_t i = 0; i < added_.size(); ++i) {
        const auto b = static_cast<unsigned char>(added_[i].content[0]);
        added_by_first_byte_[b].push_back(static_cast<int32_t>(i));
    }
    for (auto& list : added_by_first_byte_)
        std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) {
            return added_[static_cast<size_t>(a)].content.size() >
                   added_[static_cast<size_t>(b)].content.size();
        });
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    std::string prefixed;
    if (add_prefix_space_ && text[0] != ' ') {
        prefixed.reserve(text.size() + 1);
        prefixed += ' ';
        prefixed.append(text);
        text = prefixed;
    }
    std::vector<std::string_view> pieces{text}, next;
    for (const RegexSplitter& splitter : splitters_) {
        next.clear();
        for (std::string_view p : pieces) splitter.split(p, next);
        pieces.swap(next);
    }
    for (std::string_view p : pieces) bpe_.encode_piece(p, out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view input, bool allow_special) const {
    std::string repaired;
    if (!is_valid_utf8(input)) {
        repaired = utf8_repair(input);
        input = repaired;
    }
    std::vector<int32_t> out;
    size_t segment_begin = 0;
    for (size_t i = 0; i < input.size();) {
        const AddedToken* match = nullptr;
        for (int32_t idx : added_by_first_byte_[static_cast<unsigned char>(input[i])]) {
            const AddedToken& t = added_[static_cast<size_t>(idx)];
            if ((allow_special || !t.special) &&
                input.compare(i, t.content.size(), t.content) == 0) {
                match = &t;
                break;
            }
        }
        if (!match) {
            ++i;
            continue;
        }
        size_t segment_end = i;
        if (match->lstrip)
            while (segment_end > segment_begin && is_space(input[segment_end - 1])) --segment_end;
        encode_plain(input.substr(segment_begin, segment_end - segment_begin), out);
        out.push_back(match->id);
        i += match->content.size();
        if (match->rstrip)
            while (i < input.size() && is_space(input[i])) ++i;
        segment_begin = i;
    }
    encode_plain(input.substr(segment_begin), out);
    return out;
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
    for (const AddedToken& t : added_)
        if (t.id == id) return t.content;
    return bpe_.has_id(id) ? std::string_view(bpe_.bytes(id)) : std::string_view();
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
    std::string bytes;
    for (int32_t id : ids) {
        if (skip_special && is_special(id)) continue;
        bytes += token_bytes(id);
    }
    return is_valid_utf8(bytes) ? bytes : utf8_repair(bytes);
}

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
    for (const AddedToken& t : added_)
        if (t.content == text) return t.id;
    const int32_t id = bpe_.find(text);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
    for (const AddedToken& t : added_)
        if (t.id == id) return t.special;
    return false;
}

int64_t Tokenizer::vocab_size() const {
    int64_t max_id = bpe_.max_id();
    for (const AddedToken& t : added_) max_id = std::max<int64_t>(max_id, t.id);
    return max_id + 1;
}

std::string Tokenizer::describe() const {
    std::ostringstream ss;
    ss << format_ << " BPE, " << bpe_.num_tokens() << " tokens + " << added_.size()
       << " added (vocab size " << vocab_size() << ")";
    return ss.str();
}

}  // namespace autoglm
