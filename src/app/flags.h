// A small --flag value / --flag=value parser for the subcommands, spelled as vLLM accepts them
// (--flag-name or --flag_name, one positional argument); unknown flags are errors and every flag
// has a help line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace autoglm {

class Flags {
  public:
    Flags(std::string command, std::string summary);

    // Declares a flag with a default ("" for none) and a help line; `is_switch` takes no value.
    void add(const std::string& name, const std::string& default_value, const std::string& help,
             bool is_switch = false);
    // --name sets `target` (another spelling of the same flag).
    void add_alias(const std::string& name, const std::string& target, const std::string& help);
    // A flag other servers have that changes nothing here: accepted, and notes() says why.
    void add_ignored(const std::string& name, const std::string& why, bool is_switch = false);
    // One argument that is not a flag sets `name` (vLLM's `serve MODEL`); giving it as --name
    // too is an error.
    void set_positional(const std::string& name) { positional_ = name; }
    Status parse(const std::vector<std::string>& args);

    const std::string& get(const std::string& name) const;
    bool has(const std::string& name) const;  // given on the command line
    bool enabled(const std::string& name) const { return get(name) == "true"; }
    Result<int64_t> get_int(const std::string& name, int64_t min, int64_t max) const;
    // A finite number, at least `min`.
    Result<double> get_double(const std::string& name, double min = -1e308) const;
    std::string help() const;
    // One line per ignored flag that was given: "--name VALUE is accepted and ignored: why".
    const std::vector<std::string>& notes() const { return notes_; }

  private:
    struct Spec {
        std::string default_value;
        std::string help;
        bool is_switch = false;
        std::string alias_of;  // non-empty: an alias that sets this flag instead
        bool ignored = false;  // accepted for compatibility; `help` says why it changes nothing
    };
    Status set_value(std::string name, const std::vector<std::string>& args, size_t& i);
    std::string command_;
    std::string summary_;
    std::vector<std::string> order_;
    std::map<std::string, Spec> specs_;
    std::map<std::string, std::string> values_;
    std::string positional_;
    bool positional_given_ = false;
    bool positional_overridden_ = false;
    std::vector<std::string> notes_;
};

}  // namespace autoglm
