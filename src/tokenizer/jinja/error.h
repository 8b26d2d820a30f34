// The interpreter's internal error: thrown inside the lexer, parser and renderer and turned into
// an Error by ChatTemplate, so no exception leaves this library.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

// NOTE: GCC 12 reports a false -Wrestrict inside std::string's operator+ when it inlines the
// message building below (GCC bug 105329); every file that builds messages includes this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

namespace autoglm::jinja {

class TemplateError : public std::runtime_error {
  public:
    TemplateError(int line, const std::string& message)
        : std::runtime_error(line > 0 ? "line " + std::to_string(line) + ": " + message : message),
          line_(line) {}
    int line() const { return line_; }

  private:
    int line_;
};

inline std::string cat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (std::string_view part : parts) out.append(part);
    return out;
}

[[noreturn]] inline void fail(int line, const std::string& message) {
    throw TemplateError(line, message);
}

}  // namespace autoglm::jinja
