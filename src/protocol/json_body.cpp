// parse_json_fast: one scan finds the long plain string values (outside strings the scan keeps a
// stack of containers to tell values from keys), the parse sees placeholders, and a walk over
// the result swaps the strings in.
#include "protocol/json_body.h"

#include <charconv>
#include <random>
#include <string>
#include <vector>

namespace autoglm {
namespace {

struct Cut {
    size_t begin = 0, end = 0;  // the string's content, quotes excluded
};

// The long plain string values of `text`, in order. Stops (returning what it has) at anything
// that is not well-formed enough to be sure of, and then the parse decides.
std::vector<Cut> find_long_values(std::string_view text, size_t min_long) {
    std::vector<Cut> cuts;
    std::vector<char> stack;  // '{' or '['
    char prev = 0;            // the last structural character outside strings
    const size_t n = text.size();
    for (size_t i = 0; i < n; ++i) {
        const char c = text[i];
        if (c == '"') {
            bool plain = true;
            size_t j = i + 1;
            for (; j < n; ++j) {
                const auto b = static_cast<unsigned char>(text[j]);
                if (b == '"') break;
                if (b == '\\') {
                    plain = false;
                    ++j;  // the escaped character cannot end the string
                } else if (b < 0x20 || b >= 0x7f) {
                    plain = false;
                }
            }
            if (j >= n) return cuts;  // unterminated: the parse reports it
            const bool value = stack.empty() || stack.back() == '[' || prev == ':';
            if (plain && value && j - (i + 1) >= min_long) cuts.push_back({i + 1, j});
            prev = '"';
            i = j;
        } else if (c == '{' || c == '[') {
            stack.push_back(c);
            prev = c;
        } else if (c == '}' || c == ']') {
            if (stack.empty()) return cuts;
            stack.pop_back();
            prev = c;
        } else if (c == ',' || c == ':') {
            prev = c;
        }
    }
    return cuts;
}

const std::string& placeholder_prefix() {
    // A NUL, then a per-process random tag: no client can name it.
    static const std::string prefix = [] {
        std::random_device rd;
        const uint64_t tag = (static_cast<uint64_t>(rd()) << 32) ^ rd();
        return std::string("\0cut-", 5) + std::to_string(tag) + "-";
    }();
    return prefix;
}

// Iterative: a body may nest deeper than the thread's stack allows recursion (the parser and
// nlohmann's destructor do not recurse either).
void restore(nlohmann::ordered_json& root, std::string_view text, const std::vector<Cut>& cuts) {
    const std::string& prefix = placeholder_prefix();
    std::vector<nlohmann::ordered_json*> todo{&root};
    while (!todo.empty()) {
        nlohmann::ordered_json& v = *todo.back();
        todo.pop_back();
        if (v.is_object() || v.is_array()) {
            for (auto& child : v) todo.push_back(&child);
            continue;
        }
        if (!v.is_string()) continue;
        auto& s = v.get_ref<std::string&>();
        if (s.size() <= prefix.size() || s.compare(0, prefix.size(), prefix) != 0) continue;
        size_t k = 0;
        const char* first = s.data() + prefix.size();
        const char* last = s.data() + s.size();
        const auto [end, ec] = std::from_chars(first, last, k);
        if (ec != std::errc() || end != last || k >= cuts.size()) continue;
        s.assign(text.data() + cuts[k].begin, cuts[k].end - cuts[k].begin);
    }
}

}  // namespace

nlohmann::ordered_json parse_json_fast(std::string_view text, size_t min_long) {
    const std::vector<Cut> cuts = find_long_values(text, min_long);
    if (cuts.empty()) return nlohmann::ordered_json::parse(text, nullptr, false);
    // The placeholder as JSON source: \u0000 then the tag and the cut's index.
    const std::string tag = "\\u0000" + placeholder_prefix().substr(1);
    std::string small;
    small.reserve(text.size() - (cuts.back().end - cuts.front().begin) + cuts.size() * 48 + 4096);
    size_t at = 0;
    for (size_t k = 0; k < cuts.size(); ++k) {
        small.append(text.substr(at, cuts[k].begin - at));
        small.append(tag).append(std::to_string(k));
        at = cuts[k].end;
    }
    small.append(text.substr(at));
    nlohmann::ordered_json v = nlohmann::ordered_json::parse(small, nullptr, false);
    if (!v.is_discarded()) restore(v, text, cuts);
    return v;
}

}  // namespace autoglm
