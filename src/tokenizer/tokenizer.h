// Tokenizer: GLM's byte-level BPE loaded from a Hugging Face tokenizer.json or a tiktoken-format
// tokenizer.model (+ tokenizer_config.json for its added tokens). Added/special tokens are matched
// before the regex split; nothing is prepended (chat templates emit [gMASK]<sop> themselves).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tokenizer/bpe.h"
#include "tokenizer/regex_splitter.h"

namespace autoglm {

struct AddedToken {
    int32_t id = 0;
    std::string content;
    bool special = true;  // special tokens are matched only with allow_special, skippable on decode
    bool lstrip = false;  // swallow whitespace before / after a match
    bool rstrip = false;
};

class Tokenizer {
  public:
    // A folder with tokenizer.json, or with tokenizer.model (+ tokenizer_config.json).
    static Result<std::unique_ptr<Tokenizer>> load(const std::string& dir);
    static Result<std::unique_ptr<Tokenizer>> from_hf_json(const std::string& json_text);
    // tiktoken ranks file text; `added` are the special tokens (e.g. from tokenizer_config.json).
    static Result<std::unique_ptr<Tokenizer>> from_tiktoken(const std::string& ranks_text,
                                                            std::vector<AddedToken> added);
    // tiktoken-style vocabulary given in memory: tokens[i] holds the bytes of id (= rank) i and
    // must include every single byte. Used for the demo model's tokenizer (no files needed).
    static Result<std::unique_ptr<Tokenizer>> from_ranked_tokens(std::vector<std::string> tokens,
                                                                 std::vector<AddedToken> added);
    // Reads added_tokens_decoder of a tokenizer_config.json.
    static Result<std::vector<AddedToken>> added_tokens_from_config(const std::string& json_text);

    // Adds (or re-flags) an added token; false if `id` is already a different BPE token.
    bool add_token(AddedToken token);

    std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const;
    // Invalid UTF-8 in the result (a cut multi-byte character) becomes U+FFFD.
    std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
    // Raw bytes of one token ("" for unknown ids); may be part of a UTF-8 character.
    std::string_view token_bytes(int32_t id) const;

    std::optional<int32_t> token_id(std::string_view text) const;  // added token or vocab entry
    bool is_special(int32_t id) const;
    const std::vector<AddedToken>& added_tokens() const { return added_; }
    int64_t vocab_size() const;  // max id + 1
    std::string describe() const;

  private:
    Tokenizer() : bpe_(BpeModel::MergeRule::kMergeList) {}
    void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
    void index_added_tokens();

    BpeModel bpe_;
    std::vector<RegexSplitter> splitters_;  // applied in order to each piece
    bool add_prefix_space_ = false;
    std::vector<AddedToken> added_;
    std::vector<int32_t> added_by_first_byte_[256];  // indices into added_, longest first
    std::string format_;
};

}  // namespace autoglm
