// Flags: parsing and help text.
#include "app/flags.h"

#include <charconv>
#include <sstream>

#include "core/check.h"

namespace autoglm {

Flags::Flags(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void Flags::add(const std::string& name, const std::string& default_value, const std::string& help,
                bool is_switch) {
    order_.push_back(name);
    specs_[name] = Spec{is_switch ? "false" : default_value, help, is_switch};
}

void Flags::add_alias(const std::string& name, const std::string& target, const std::string& help) {
    CHECK(specs_.count(target)) << "alias --" << name << " of an undeclared flag";
    specs_[name] = Spec{"", help, specs_[target].is_switch, target};
    order_.push_back(name);
}

Status Flags::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0) return Error{"unexpected argument '" + arg + "'"};
        std::string name = arg.substr(2);
        std::string value;
        bool has_value = false;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            has_value = true;
        }
        auto it = specs_.find(name);
        if (it == specs_.end())
            return Error{"unknown flag --" + name + " (see autoglm " + command_ + " --help)"};
        if (!it->second.alias_of.empty()) {
            name = it->second.alias_of;
            it = specs_.find(name);
        }
        if (it->second.is_switch) {
            if (has_value && value != "true" && value != "false")
                return Error{"--" + name + " takes no value (or =true/=false)"};
            values_[name] = has_value ? value : "true";
            continue;
        }
        if (!has_value) {
            if (i + 1 >= args.size()) return Error{"--" + name + " needs a value"};
            value = args[++i];
        }
        values_[name] = value;
    }
    return {};
}

const std::string& Flags::get(const std::string& name) const {
    const auto it = values_.find(name);
    if (it != values_.end()) return it->second;
    return specs_.at(name).default_value;
}

bool Flags::has(const std::string& name) const {
    return values_.count(name) != 0;
}

Result<int64_t> Flags::get_int(const std::string& name, int64_t min, int64_t max) const {
    const std::string& text = get(name);
    int64_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < min || value > max)
        return Error{"--" + name + " must be an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + text + "'"};
    return value;
}

std::string Flags::help() const {
    std::ostringstream ss;
    ss << "usage: autoglm " << command_ << " [flags]\n\n" << summary_ << "\n\nflags:\n";
    for (const std::string& name : order_) {
        const Spec& s = specs_.at(name);
        std::string left = "  --" + name + (s.is_switch ? "" : " VALUE");
        ss << left;
        if (left.size() < 28)
            ss << std::string(28 - left.size(), ' ');
        else
            ss << "\n" << std::string(28, ' ');
        ss << s.help;
        if (!s.is_switch && !s.default_value.empty()) ss << " (default: " << s.default_value << ")";
        ss << "\n";
    }
    return ss.str();
}

}  // namespace autoglm
