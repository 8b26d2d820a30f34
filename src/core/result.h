// Result<T>: a value or an error message, returned at module boundaries for recoverable failures
// (bad files, bad requests). Programming errors use CHECK instead.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "core/check.h"

namespace autoglm {

struct Error {
    std::string message;
};

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        CHECK(ok()) << error_message();
        return std::get<0>(state_);
    }
    T&& value() && {
        CHECK(ok()) << error_message();
        return std::get<0>(std::move(state_));
    }
    const T& value() const& {
        CHECK(ok()) << error_message();
        return std::get<0>(state_);
    }
    const Error& error() const { return std::get<1>(state_); }
    const std::string& error_message() const {
        static const std::string kNone;
        return ok() ? kNone : std::get<1>(state_).message;
    }

  private:
    std::variant<T, Error> state_;
};

// Result<void>.
class [[nodiscard]] Status {
  public:
    Status() = default;
    Status(Error error) : error_(std::move(error)) {}  // NOLINT: implicit by design
    bool ok() const { return !error_.has_value(); }
    explicit operator bool() const { return ok(); }
    const std::string& error_message() const {
        static const std::string kNone;
        return error_ ? error_->message : kNone;
    }

  private:
    std::optional<Error> error_;
};

}  // namespace autoglm
