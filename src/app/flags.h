// A small --flag value / --flag=value parser for the subcommands; unknown flags are errors and
// every flag has a help line.
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
    Status parse(const std::vector<std::string>& args);

    const std::string& get(const std::string& name) const;
    bool has(const std::string& name) const;  // given on the command line
    bool enabled(const std::string& name) const { return get(name) == "true"; }
    Result<int64_t> get_int(const std::string& name, int64_t min, int64_t max) const;
    std::string help() const;

  private:
    struct Spec {
        std::string default_value;
        std::string help;
        bool is_switch = false;
        std::string alias_of;  // non-empty: an alias that sets this flag instead
    };
    std::string command_;
    std::string summary_;
    std::vector<std::string> order_;
    std::map<std::string, Spec> specs_;
    std::map<std::string, std::string> values_;
};

}  // namespace autoglm
