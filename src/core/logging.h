// Minimal leveled logging to stderr with a UTC timestamp; the level comes from AUTOGLM_LOG_LEVEL
// (debug, info, warning, error) and defaults to info.
#pragma once

#include <sstream>
#include <string_view>

namespace autoglm {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);

class LogMessage {
  public:
    explicit LogMessage(LogLevel level) : level_(level) {}
    ~LogMessage() { log_line(level_, stream_.str()); }
    template <typename T>
    LogMessage& operator<<(const T& value) {
        stream_ << value;
        return *this;
    }

  private:
    LogLevel level_;
    std::ostringstream stream_;
};

struct LogVoidify {
    void operator&(const LogMessage&) {}
};

}  // namespace autoglm

// Expands to one expression, so it is safe as the body of an unbraced if/else.
#define LOG_AT(level)                                   \
    !::autoglm::log_enabled(::autoglm::LogLevel::level) \
        ? (void)0                                       \
        : ::autoglm::LogVoidify() & ::autoglm::LogMessage(::autoglm::LogLevel::level)
#define LOG_INFO LOG_AT(kInfo)
#define LOG_WARNING LOG_AT(kWarning)
#define LOG_ERROR LOG_AT(kError)
#define LOG_DEBUG LOG_AT(kDebug)
