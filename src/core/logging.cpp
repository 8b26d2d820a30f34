// log_line: one mutex-guarded write per message so lines from threads never interleave.
#include "core/logging.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

namespace autoglm {
namespace {

LogLevel threshold() {
    static const LogLevel level = [] {
        const char* env = std::getenv("AUTOGLM_LOG_LEVEL");
        const std::string s = env ? env : "info";
        if (s == "debug") return LogLevel::kDebug;
        if (s == "warning") return LogLevel::kWarning;
        if (s == "error") return LogLevel::kError;
        return LogLevel::kInfo;
    }();
    return level;
}

}  // namespace

bool log_enabled(LogLevel level) {
    return level >= threshold();
}

void log_line(LogLevel level, std::string_view message) {
    static std::mutex mutex;
    static const char* kNames[] = {"DEBUG", "INFO", "WARNING", "ERROR"};
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::lock_guard<std::mutex> lock(mutex);
    std::fprintf(stderr, "%s %s %.*s\n", stamp, kNames[static_cast<int>(level)],
                 static_cast<int>(message.size()), message.data());
}

}  // namespace autoglm
