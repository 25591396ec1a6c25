// Messages the proxy itself sends to clients: errors, parameter status, key data.
#pragma once

#include <qail/protocol/buffer.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace qail::proxy::wire {

/// ErrorResponse with severity ("ERROR"/"FATAL"), SQLSTATE and message.
void error(std::string& out, std::string_view severity, std::string_view sqlstate,
           std::string_view message, std::string_view detail = {});
void ready(std::string& out, char status);
void parameter_status(std::string& out, std::string_view name, std::string_view value);
void backend_key(std::string& out, std::int32_t pid, std::string_view key);

/// The SQLSTATE of an ErrorResponse body ('C' field), or empty.
[[nodiscard]] std::string_view error_sqlstate(std::string_view body) noexcept;

/// Any field of an ErrorResponse/NoticeResponse body by its code, or empty.
[[nodiscard]] std::string_view error_field(std::string_view body, char field) noexcept;

/// A case-insensitive check that `sql` starts (after whitespace and comments) with the
/// keyword `word` followed by a non-identifier character or the end.
[[nodiscard]] bool starts_with_keyword(std::string_view sql, std::string_view word) noexcept;

} // namespace qail::proxy::wire
