// CheckFailure: formats the failed condition and aborts.
#include "core/check.h"

#include <cstdio>
#include <cstdlib>

namespace autoglm {

CheckFailure::CheckFailure(const char* file, int line, const char* condition) {
    stream_ << file << ":" << line << ": CHECK failed: " << condition << " ";
}

CheckFailure::~CheckFailure() {
    std::fprintf(stderr, "%s\n", stream_.str().c_str());
    std::fflush(stderr);
    std::abort();
}

}  // namespace autoglm
