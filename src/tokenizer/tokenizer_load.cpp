// Loading tokenizers: Hugging Face tokenizer.json (BPE model, added tokens, Split/ByteLevel
// pre-tokenizers) and tiktoken rank files (base64 token, rank per line).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base64.h"
#include "core/file.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using nlohmann::json;

bool decode_token(std::string_view text, std::string& out) {
    auto bytes = base64_decode(text);
    if (!bytes) return false;
    out = std::move(bytes).value();
    return true;
}

// One pre-tokenizer step of tokenizer.json -> regex splitters (and the prefix-space flag).
Status add_pre_tokenizer(const json& step, std::vector<RegexSplitter>& splitters,
                         bool& add_prefix_space) {
    const std::string type = step.value("type", "");
    if (type == "Sequence") {
        for (const json& s : step.value("pretokenizers", json::array()))
            if (Status st = add_pre_tokenizer(s, splitters, add_prefix_space); !st) return st;
        return {};
    }
    if (type == "ByteLevel") {
        add_prefix_space = step.value("add_prefix_space", false);
        if (!step.value("use_regex", true)) return {};
        auto re = RegexSplitter::compile(kGpt2SplitPattern);
        if (!re) return re.error();
        splitters.push_back(std::move(re).value());
        return {};
    }
    if (type == "Split") {
        const json& pattern = step.at("pattern");
        if (step.value("behavior", "Isolated") != "Isolated" || step.value("invert", false))
            return Error{"tokenizer.json: Split behavior other than Isolated is not supported"};
        std::string regex;
        if (pattern.contains("Regex")) {
            regex = pattern.at("Regex").get<std::string>();
        } else {  // a literal string: escape it for PCRE2
            regex = "\\Q" + pattern.at("String").get<std::string>() + "\\E";
        }
        auto re = RegexSplitter::compile(regex);
        if (!re) return Error{"tokenizer.json: " + re.error_message()};
        splitters.push_back(std::move(re).value());
        return {};
    }
    return Error{"tokenizer.json: pre_tokenizer type '" + type + "' is not supported"};
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_hf_json(const std::string& text) {
    const json root = json::parse(text, nullptr, false);
    if (root.is_discarded() || !root.is_object()) return Error{"tokenizer.json: not valid JSON"};
    std::unique_ptr<Tokenizer> tok(new Tokenizer());
    tok->format_ = "tokenizer.json";
    try {
        const json& model = root.at("model");
        if (model.value("type", "BPE") != "BPE")
            return Error{"tokenizer.json: model type '" + model.value("type", "") +
                         "' is not supported (BPE)"};
        if (!root.value("normalizer", json()).is_null())
            return Error{"tokenizer.json: normalizers are not supported (GLM has none)"};
        std::string raw;
        for (const auto& [token, id] : model.at("vocab").items()) {
            if (!byte_level_decode(token, raw))
                return Error{"tokenizer.json: vocab entry '" + token + "' is not byte-level"};
            if (!tok->bpe_.add_token(id.get<int32_t>(), raw))
                return Error{"tokenizer.json: duplicate vocab entry '" + token + "'"};
        }
        std::string left, right;
        for (const json& m : model.at("merges")) {
            std::string a, b;
            if (m.is_array()) {
                a = m.at(0).get<std::string>(), b = m.at(1).get<std::string>();
            } else {
                const std::string s = m.get<std::string>();
                const size_t sp = s.find(' ', 1);
                if (sp == std::string::npos) return Error{"tokenizer.json: bad merge '" + s + "'"};
                a = s.substr(0, sp), b = s.substr(sp + 1);
            }
            if (!byte_level_decode(a, left) || !byte_level_decode(b, right) ||
                !tok->bpe_.add_merge(left, right))
                return Error{"tokenizer.json: merge '" + a + " " + b + "' uses unknown tokens"};
        }
        tok->bpe_.set_ignore_merges(model.value("ignore_merges", false));
        if (const json& pre = root.value("pre_tokenizer", json()); !pre.is_null())
            if (Status s = add_pre_tokenizer(pre, tok->splitters_, tok->add_prefix_space_); !s)
                return Error{s.error_message()};
        for (const json& a : root.value("added_tokens", json::array())) {
            AddedToken t{a.at("id").get<int32_t>(), a.at("content").get<std::string>(),
                         a.value("special", false), a.value("lstrip", false),
                         a.value("rstrip", false)};
            if (!tok->add_token(t))
                return Error{"tokenizer.json: added token '" + t.content + "' clashes"};
        }
    } catch (const json::exception& e) {
        return Error{std::string("tokenizer.json: malformed: ") + e.what()};
    }
    if (const int b = tok->bpe_.missing_byte(); b >= 0)
        return Error{"tokenizer.json: byte " + std::to_string(b) + " has no token"};
    return tok;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_tiktoken(const std::string& ranks_text,
                                                            std::vector<AddedToken> added) {
    std::unique_ptr<Tokenizer> tok(new Tokenizer());
    tok->format_ = "tiktoken";
    tok->bpe_ = BpeModel(BpeModel::MergeRule::kTiktokenRanks);
    std::istringstream in(ranks_text);
    std::string line, bytes;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.empty()) continue;
        const size_t sp = line.find(' ');
        int64_t rank = -1;
        try {
            rank = sp == std::string::npos ? -1 : std::stoll(line.substr(sp + 1));
        } catch (const std::exception&) {
        }
        if (rank < 0 || rank > INT32_MAX || !decode_token(line.substr(0, sp), bytes) ||
            !tok->bpe_.add_token(static_cast<int32_t>(rank), bytes))
            return Error{"tokenizer.model: line " + std::to_string(line_no) + " is malformed"};
    }
    if (const int b = tok->bpe_.missing_byte(); b >= 0)
        return Error{"tokenizer.model: byte " + std::to_string(b) + " has no token"};
    auto re = RegexSplitter::compile(kGlm4SplitPattern);
    if (!re) return re.error();
    tok->splitters_.push_back(std::move(re).value());
    for (AddedToken& t : added)
        if (!tok->add_token(std::move(t)))
            return Error{"tokenizer.model: added token '" + t.content + "' clashes with the vocab"};
    return tok;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_ranked_tokens(std::vector<std::string> tokens,
                                                                 std::vector<AddedToken> added) {
    std::unique_ptr<Tokenizer> tok(new Tokenizer());
    tok->format_ = "in-memory";
    tok->bpe_ = BpeModel(BpeModel::MergeRule::kTiktokenRanks);
    for (size_t id = 0; id < tokens.size(); ++id)
        if (!tok->bpe_.add_token(static_cast<int32_t>(id), std::move(tokens[id])))
            return Error{"token " + std::to_string(id) + " is empty or a duplicate"};
    if (const int b = tok->bpe_.missing_byte(); b >= 0)
        return Error{"byte " + std::to_string(b) + " has no token"};
    auto re = RegexSplitter::compile(kGlm4SplitPattern);
    if (!re) return re.error();
    tok->splitters_.push_back(std::move(re).value());
    for (AddedToken& t : added)
        if (!tok->add_token(t)) return Error{"added token '" + t.content + "' clashes"};
    return tok;
}

Result<std::vector<AddedToken>> Tokenizer::added_tokens_from_config(const std::string& text) {
    const json root = json::parse(text, nullptr, false);
    if (root.is_discarded() || !root.is_object()) return Error{"tokenizer_config.json: not JSON"};
    std::vector<AddedToken> out;
    try {
        const json decoder = root.value("added_tokens_decoder", json::object());
        for (const auto& [id, t] : decoder.items())
            out.push_back(AddedToken{std::stoi(id), t.at("content").get<std::string>(),
                                     t.value("special", false), t.value("lstrip", false),
                                     t.value("rstrip", false)});
    } catch (const std::exception& e) {
        return Error{std::string("tokenizer_config.json: malformed added_tokens_decoder: ") +
                     e.what()};
    }
    return out;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& dir) {
    namespace fs = std::filesystem;
    const fs::path json_path = fs::path(dir) / "tokenizer.json";
    if (fs::exists(json_path)) {
        auto text = read_file(json_path.string());
        if (!text) return text.error();
        auto tok = from_hf_json(text.value());
        if (!tok) return Error{json_path.string() + ": " + tok.error_message()};
        return tok;
    }
    const fs::path model_path = fs::path(dir) / "tokenizer.model";
    if (!fs::exists(model_path)) return Error{dir + ": no tokenizer.json or tokenizer.model"};
    std::vector<AddedToken> added;
    if (const fs::path cfg = fs::path(dir) / "tokenizer_config.json"; fs::exists(cfg)) {
        auto text = read_file(cfg.string());
        if (!text) return text.error();
        auto parsed = added_tokens_from_config(text.value());
        if (!parsed) return Error{cfg.string() + ": " + parsed.error_message()};
        added = std::move(parsed).value();
    }
    auto ranks = read_file(model_path.string());
    if (!ranks) return ranks.error();
    return from_tiktoken(ranks.value(), std::move(added));
}

}  // namespace autoglm
