// Flags: parsing and help text.
#include "app/flags.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/check.h"

namespace autoglm {

Flags::Flags(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void Flags::add(const std::string& name, const std::string& default_value, const std::string& help,
                bool is_switch) {
    CHECK(!is_switch || default_value.empty() || default_value == "false")
        << "switch --" << name << " declared with the value default '" << default_value << "'";
    order_.push_back(name);
    specs_[name] = Spec{is_switch ? "false" : default_value, help, is_switch};
}

void Flags::add_alias(const std::string& name, const std::string& target, const std::string& help) {
    CHECK(specs_.count(target)) << "alias --" << name << " of an undeclared flag";
    specs_[name] = Spec{"", help, specs_[target].is_switch, target};
    order_.push_back(name);
}

void Flags::add_ignored(const std::string& name, const std::string& why, bool is_switch) {
    order_.push_back(name);
    specs_[name] = Spec{is_switch ? "false" : "", why, is_switch, "", /*ignored=*/true};
}

Status Flags::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
            if (Status s = set_value(arg.substr(2), args, i); !s) return s;
            continue;
        }
        if (positional_.empty() || positional_given_)
            return Error{"unexpected argument '" + arg + "'"};
        if (has(positional_))
            return Error{"the " + positional_ + " is given twice ('" + arg + "' and --" +
                         positional_ + ")"};
        values_[positional_] = arg;
        positional_given_ = true;
    }
    if (positional_given_ && positional_overridden_)
        return Error{"the " + positional_ + " is given twice (as an argument and as --" +
                     positional_ + ")"};
    return {};
}

Status Flags::set_value(std::string name, const std::vector<std::string>& args, size_t& i) {
    std::string value;
    bool has_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
    }
    for (char& c : name)  // vLLM (argparse) takes --flag_name for --flag-name
        if (c == '_') c = '-';
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
        value = has_value ? value : "true";
    } else if (!has_value) {
        if (i + 1 >= args.size()) return Error{"--" + name + " needs a value"};
        value = args[++i];
    }
    if (it->second.ignored)
        notes_.push_back("--" + name + (it->second.is_switch ? "" : " " + value) +
                         " is accepted and ignored: " + it->second.help);
    if (name == positional_ && positional_given_) positional_overridden_ = true;
    values_[name] = value;
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

Result<double> Flags::get_double(const std::string& name, double min) const {
    const std::string& text = get(name);
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value))
        return Error{"--" + name + ": '" + text + "' is not a number"};
    if (value < min)
        return Error{"--" + name + " must be at least " + std::to_string(min) + ", got '" + text +
                     "'"};
    return value;
}

std::string Flags::help() const {
    std::ostringstream ss;
    ss << "usage: autoglm " << command_ << (positional_.empty() ? "" : " [" + positional_ + "]")
       << " [flags]\n\n"
       << summary_ << "\n\nflags (--flag-name or --flag_name, --flag VALUE or --flag=VALUE):\n";
    std::vector<std::string> ignored;
    for (const std::string& name : order_) {
        const Spec& s = specs_.at(name);
        if (s.ignored) {
            ignored.push_back(name);
            continue;
        }
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
    if (!ignored.empty()) {
        ss << "\naccepted for vLLM compatibility, changing nothing here:\n";
        for (const std::string& name : ignored)
            ss << "  --" << name << (specs_.at(name).is_switch ? "" : " VALUE") << ": "
               << specs_.at(name).help << "\n";
    }
    return ss.str();
}

}  // namespace autoglm
