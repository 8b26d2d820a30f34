// parse_agent_action: find the call, read its keyword arguments, check them against the action set.
#include "protocol/agent_action.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kDo = "do(action=";
constexpr std::string_view kFinish = "finish(message=";
constexpr int kMaxListDepth = 4;

// What each action needs: points are [x, y] in 0-999; strings must be strings.
struct ActionSpec {
    std::string_view name;
    std::array<std::string_view, 2> points;   // required ("" = none)
    std::array<std::string_view, 1> strings;  // required ("" = none)
};
constexpr ActionSpec kActions[] = {
    {"Tap", {"element", ""}, {""}},
    {"Double Tap", {"element", ""}, {""}},
    {"Long Press", {"element", ""}, {""}},
    {"Swipe", {"start", "end"}, {""}},
    {"Type", {"", ""}, {"text"}},
    {"Type_Name", {"", ""}, {"text"}},
    {"Launch", {"", ""}, {"app"}},
    {"Back", {"", ""}, {""}},
    {"Home", {"", ""}, {""}},
    {"Wait", {"", ""}, {""}},
    {"Take_over", {"", ""}, {""}},
    {"Note", {"", ""}, {""}},
    {"Call_API", {"", ""}, {""}},
    {"Interact", {"", ""}, {""}},
};

// The start of a reply's text for an error message.
std::string excerpt(std::string_view s) {
    constexpr size_t kMax = 80;
    return s.size() <= kMax ? std::string(s) : std::string(s.substr(0, kMax)) + "...";
}

// Reads `name(key=value, ...)` as Python would read the keyword arguments of a call.
class CallReader {
  public:
    explicit CallReader(std::string_view text) : s_(text) {}

    // The keyword arguments in order, or an error; `truncated()` tells a cut-off call apart.
    Result<Json> read_call() {
        skip_space();
        const std::string_view name = identifier();
        if (name.empty()) return fail("expected a call");
        if (!expect('(')) return fail("expected '(' after " + std::string(name));
        Json args = Json::object();
        for (;;) {
            skip_space();
            if (at_end()) return fail("");
            if (peek() == ')') return args;
            const std::string key(identifier());
            if (key.empty()) return fail("expected an argument name");
            skip_space();
            if (!expect('=')) return fail("expected '=' after " + key);
            auto value = read_value(0);
            if (!value) return value;
            args[key] = std::move(value).value();
            skip_space();
            if (at_end()) return fail("");
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() != ')') return fail("expected ',' or ')'");
        }
    }
    bool truncated() const { return truncated_; }

  private:
    bool at_end() const { return pos_ >= s_.size(); }
    char peek() const { return s_[pos_]; }
    void skip_space() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
            ++pos_;
    }
    bool expect(char c) {
        skip_space();
        if (at_end() || peek() != c) return false;
        ++pos_;
        return true;
    }
    std::string_view identifier() {
        const size_t start = pos_;
        while (!at_end() && (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_'))
            ++pos_;
        return s_.substr(start, pos_ - start);
    }
    // An empty message means the text ended inside the call.
    Error fail(const std::string& message) {
        if (message.empty() || at_end()) {
            truncated_ = true;
            return Error{"the action is cut off: " + excerpt(s_)};
        }
        return Error{message + " at offset " + std::to_string(pos_) + " of " + excerpt(s_)};
    }

    Result<Json> read_value(int depth) {
        skip_space();
        if (at_end()) return fail("");
        const char c = peek();
        if (c == '"' || c == '\'') return read_string(c);
        if (c == '[' || c == '(') return read_list(c == '[' ? ']' : ')', depth);
        if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.')
            return read_number();
        const std::string_view word = identifier();
        if (word == "True") return Json(true);
        if (word == "False") return Json(false);
        if (word == "None") return Json(nullptr);
        return fail("expected a value");
    }

    Result<Json> read_list(char close, int depth) {
        if (depth >= kMaxListDepth) return fail("lists nested too deep");
        ++pos_;
        Json list = Json::array();
        for (;;) {
            skip_space();
            if (at_end()) return fail("");
            if (peek() == close) {
                ++pos_;
                return list;
            }
            auto value = read_value(depth + 1);
            if (!value) return value;
            list.push_back(std::move(value).value());
            skip_space();
            if (at_end()) return fail("");
            if (peek() == ',')
                ++pos_;
            else if (peek() != close)
                return fail("expected ',' or the end of the list");
        }
    }

    Result<Json> read_number() {
        const size_t start = pos_;
        bool is_float = false;
        while (!at_end()) {
            const char c = peek();
            if (c == '.' || c == 'e' || c == 'E') is_float = true;
            if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != 'E' &&
                c != '-' && c != '+')
                break;
            ++pos_;
        }
        std::string_view token = s_.substr(start, pos_ - start);
        if (at_end()) return fail("");  // a number at the very end may be cut short
        if (!token.empty() && token[0] == '+') token.remove_prefix(1);
        if (!is_float) {
            int64_t i = 0;
            const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), i);
            if (ec == std::errc() && end == token.data() + token.size()) return Json(i);
        }
        double d = 0;
        const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), d);
        if (ec != std::errc() || end != token.data() + token.size() || !std::isfinite(d)) {
            pos_ = start;
            return fail("expected a number");
        }
        return Json(d);
    }

    // Python's string escapes; an unknown one keeps its backslash, as Python does.
    Result<Json> read_string(char quote) {
        ++pos_;
        std::string out;
        while (!at_end()) {
            const char c = s_[pos_++];
            if (c == quote) return Json(std::move(out));
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_end()) break;
            const char e = s_[pos_++];
            switch (e) {
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'v':
                    out += '\v';
                    break;
                case 'a':
                    out += '\a';
                    break;
                case '0':
                    out += '\0';
                    break;
                case '\n':
                    break;  // line continuation
                case '\\':
                case '\'':
                case '"':
                    out += e;
                    break;
                case 'x':
                case 'u':
                case 'U': {
                    const size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    if (pos_ + digits > s_.size()) return fail("");
                    uint32_t cp = 0;
                    const auto [end, ec] =
                        std::from_chars(s_.data() + pos_, s_.data() + pos_ + digits, cp, 16);
                    if (ec != std::errc() || end != s_.data() + pos_ + digits || cp > 0x10FFFF)
                        return fail("a bad \\" + std::string(1, e) + " escape");
                    pos_ += digits;
                    append_utf8(out, cp);
                    break;
                }
                default:
                    out += '\\';
                    out += e;
            }
        }
        return fail("");
    }

    std::string_view s_;
    size_t pos_ = 0;
    bool truncated_ = false;
};

// Where the answer is: after <answer>, else after </think>, else everything; cut at </answer>.
std::string_view answer_region(std::string_view reply) {
    if (const size_t a = reply.find("<answer>"); a != std::string_view::npos)
        reply.remove_prefix(a + 8);
    else if (const size_t t = reply.find("</think>"); t != std::string_view::npos)
        reply.remove_prefix(t + 8);
    if (const size_t end = reply.find("</answer>"); end != std::string_view::npos)
        reply = reply.substr(0, end);
    return reply;
}

// The raw argument of `key="...")`: from the quote after `key=` to the last quote + ')'.
std::optional<std::string> raw_argument(std::string_view call, std::string_view key) {
    const size_t k = call.find(std::string(key) + "=");
    if (k == std::string_view::npos) return std::nullopt;
    const size_t open = k + key.size() + 1;
    if (open >= call.size() || (call[open] != '"' && call[open] != '\'')) return std::nullopt;
    const std::string close = std::string(1, call[open]) + ")";
    const size_t end = call.rfind(close);
    if (end == std::string_view::npos || end <= open) return std::nullopt;
    return std::string(call.substr(open + 1, end - open - 1));
}

bool valid_coordinate(const Json& v) {
    return v.is_number() && v.get<double>() >= 0 && v.get<double>() <= 999;
}

Result<Json> check_point(const Json& args, std::string_view key,
                         const std::optional<ScreenSize>& screen) {
    const std::string k(key);
    if (!args.contains(k)) return Error{"'" + k + "' is missing"};
    const Json& p = args[k];
    if (!p.is_array() || p.size() != 2 || !valid_coordinate(p[0]) || !valid_coordinate(p[1]))
        return Error{"'" + k + "' must be [x, y] with x and y in 0-999, got " + p.dump()};
    if (!screen) return Json(nullptr);
    const auto px = [](const Json& v, int64_t size) {
        return static_cast<int64_t>(v.get<double>() / 1000.0 * static_cast<double>(size));
    };
    return Json::array({px(p[0], screen->width), px(p[1], screen->height)});
}

// "2 seconds", "2", 2 -> 2.
std::optional<double> wait_seconds(const Json& duration) {
    if (duration.is_number()) return duration.get<double>();
    if (!duration.is_string()) return std::nullopt;
    const std::string& s = duration.get_ref<const std::string&>();
    const size_t start = s.find_first_not_of(' ');
    if (start == std::string::npos) return std::nullopt;
    double d = 0;
    const auto [end, ec] = std::from_chars(s.data() + start, s.data() + s.size(), d);
    if (ec != std::errc() || !std::isfinite(d)) return std::nullopt;
    return d;
}

// The structured action from a do(...) call's arguments.
Result<Json> build_do(Json args, const std::optional<ScreenSize>& screen) {
    if (!args.contains("action") || !args["action"].is_string())
        return Error{"'action' must be a string"};
    const std::string type = args["action"].get<std::string>();
    const ActionSpec* spec = nullptr;
    for (const ActionSpec& a : kActions)
        if (a.name == type) spec = &a;
    if (!spec) return Error{"unknown action \"" + type + "\""};
    for (std::string_view key : spec->strings) {
        if (key.empty()) continue;
        const std::string k(key);
        if (!args.contains(k) || !args[k].is_string())
            return Error{type + ": '" + k + "' must be a string"};
    }
    Json out = {{"type", type}};
    for (auto& [key, value] : args.items()) {
        if (key == "action") continue;
        out[key] = value;
        const bool is_point = key == spec->points[0] || key == spec->points[1];
        if (!is_point) continue;
        auto px = check_point(args, key, screen);
        if (!px) return Error{type + ": " + px.error_message()};
        if (!px.value().is_null()) out[key + "_px"] = std::move(px).value();
    }
    for (std::string_view key : spec->points) {
        if (!key.empty() && !args.contains(std::string(key)))
            return Error{type + ": '" + std::string(key) + "' is missing"};
    }
    if (type == "Wait" && out.contains("duration")) {
        if (const auto s = wait_seconds(out["duration"])) out["seconds"] = *s;
    }
    return out;
}

}  // namespace

Result<Json> parse_agent_action(std::string_view reply, const std::optional<ScreenSize>& screen) {
    const std::string_view region = answer_region(reply);
    const size_t at_do = region.find(kDo);
    const size_t at_finish = region.find(kFinish);
    if (at_do == std::string_view::npos && at_finish == std::string_view::npos)
        return Error{"no action: the reply has no do(action=...) or finish(message=...)"};
    const bool is_finish = at_finish < at_do;
    const std::string_view call = region.substr(is_finish ? at_finish : at_do);
    CallReader reader(call);
    auto args = reader.read_call();
    if (!args) {
        // A text or message with a quote the model left unescaped: take it raw.
        const bool type_name = call.rfind("do(action=\"Type_Name\"", 0) == 0;
        const bool typed = type_name || call.rfind("do(action=\"Type\"", 0) == 0;
        if (!is_finish && !typed) return Error{args.error_message()};
        const auto raw = raw_argument(call, is_finish ? "message" : "text");
        if (!raw) return Error{args.error_message()};
        if (is_finish) return Json{{"type", "finish"}, {"message", *raw}};
        return Json{{"type", type_name ? "Type_Name" : "Type"}, {"text", *raw}};
    }
    if (!is_finish) return build_do(std::move(args).value(), screen);
    Json& a = args.value();
    if (!a["message"].is_string()) return Error{"finish: 'message' must be a string"};
    Json out = {{"type", "finish"}};
    for (auto& [key, value] : a.items()) out[key] = value;
    return out;
}

}  // namespace autoglm
