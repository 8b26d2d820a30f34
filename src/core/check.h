// Always-on invariant checks (CHECK) and debug-only checks (DCHECK); a failure prints file:line,
// the condition and a streamed message, then aborts. For programming errors, not user input.
#pragma once

#include <sstream>
#include <string>

namespace autoglm {

class CheckFailure {
  public:
    CheckFailure(const char* file, int line, const char* condition);
    [[noreturn]] ~CheckFailure();
    template <typename T>
    CheckFailure& operator<<(const T& value) {
        stream_ << value;
        return *this;
    }

  private:
    std::ostringstream stream_;
};

// Lets `CHECK(x) << "msg"` compile to a void expression in both branches.
struct CheckVoidify {
    void operator&(const CheckFailure&) {}
};

}  // namespace autoglm

#define CHECK(condition) \
    (condition)          \
        ? (void)0        \
        : ::autoglm::CheckVoidify() & ::autoglm::CheckFailure(__FILE__, __LINE__, #condition)

#if defined(NDEBUG) && !defined(AUTOGLM_SANITIZE_BUILD)
#define DCHECK(condition) \
    true ? (void)0        \
         : ::autoglm::CheckVoidify() & ::autoglm::CheckFailure(__FILE__, __LINE__, #condition)
#else
#define DCHECK(condition) CHECK(condition)
#endif
