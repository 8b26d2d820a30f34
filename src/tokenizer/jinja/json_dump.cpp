// json.dumps: Python's float repr, string escaping with and without ensure_ascii, and the
// indent layout (empty containers stay "[]" / "{}").
#include "tokenizer/jinja/json_dump.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja/error.h"
#include "tokenizer/jinja/operators.h"
#include "tokenizer/jinja/text_util.h"

namespace autoglm::jinja {
namespace {

void append_u_escape(std::string& out, unsigned unit) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "\\u%04x", unit & 0xFFFF);
    out += buf;
}

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
    out.push_back('"');
    for (char32_t cp : utf8_decode(s)) {
        switch (cp) {
            case '"':
                out += "\\\"";
                continue;
            case '\\':
                out += "\\\\";
                continue;
            case '\n':
                out += "\\n";
                continue;
            case '\r':
                out += "\\r";
                continue;
            case '\t':
                out += "\\t";
                continue;
            case '\b':
                out += "\\b";
                continue;
            case '\f':
                out += "\\f";
                continue;
            default:
                break;
        }
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7F && cp < 0x10000)) {
            append_u_escape(out, static_cast<unsigned>(cp));
        } else if (ensure_ascii && cp >= 0x10000) {
            const char32_t v = cp - 0x10000;
            append_u_escape(out, static_cast<unsigned>(0xD800 + (v >> 10)));
            append_u_escape(out, static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
        } else {
            append_utf8(out, cp);
        }
    }
    out.push_back('"');
}

class Dumper {
  public:
    Dumper(const JsonDumpOptions& options, int line) : options_(options), line_(line) {}

    void dump(const Value& v, int level) {
        switch (v.kind()) {
            case ValueKind::kNone:
                out_ += "null";
                return;
            case ValueKind::kBool:
                out_ += v.as_bool() ? "true" : "false";
                return;
            case ValueKind::kInt:
                out_ += std::to_string(v.as_int());
                return;
            case ValueKind::kFloat:
                return dump_float(v.as_float());
            case ValueKind::kString:
                return append_json_string(out_, v.as_string(), options_.ensure_ascii);
            case ValueKind::kList:
                return dump_list(v.as_list(), level);
            case ValueKind::kDict:
                return dump_dict(v.as_dict(), level);
            default:
                fail(line_, "Object of type " + type_name(v) + " is not JSON serializable");
        }
    }

    std::string take() { return std::move(out_); }

  private:
    void dump_float(double d) {
        if (std::isnan(d)) {
            out_ += "NaN";
        } else if (std::isinf(d)) {
            out_ += d > 0 ? "Infinity" : "-Infinity";
        } else {
            out_ += python_float_repr(d);
        }
    }

    void newline(int level) {
        if (!options_.indent) return;
        check_string_size(out_.size() + options_.indent->size() * static_cast<size_t>(level),
                          line_);
        out_.push_back('\n');
        for (int i = 0; i < level; ++i) out_ += *options_.indent;
    }

    void dump_list(const ValueList& items, int level) {
        if (items.empty()) {
            out_ += "[]";
            return;
        }
        out_.push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
            if (i > 0) out_ += options_.item_separator;
            newline(level + 1);
            dump(items[i], level + 1);
        }
        newline(level);
        out_.push_back(']');
    }

    void dump_dict(const ValueDict& dict, int level) {
        if (dict.empty()) {
            out_ += "{}";
            return;
        }
        std::vector<const ValueDict::Entry*> entries;
        for (const auto& entry : dict) entries.push_back(&entry);
        if (options_.sort_keys) {
            std::stable_sort(entries.begin(), entries.end(),
                             [](const auto* a, const auto* b) { return a->first < b->first; });
        }
        out_.push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
            if (i > 0) out_ += options_.item_separator;
            newline(level + 1);
            append_json_string(out_, entries[i]->first, options_.ensure_ascii);
            out_ += options_.key_separator;
            dump(entries[i]->second, level + 1);
        }
        newline(level);
        out_.push_back('}');
    }

    const JsonDumpOptions& options_;
    int line_;
    std::string out_;
};

}  // namespace

std::string json_dumps(const Value& value, const JsonDumpOptions& options, int line) {
    Dumper dumper(options, line);
    dumper.dump(value, 0);
    return dumper.take();
}

}  // namespace autoglm::jinja
