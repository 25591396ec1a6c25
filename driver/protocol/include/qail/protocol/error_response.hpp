// ErrorResponse and NoticeResponse: the identified fields of a server error or
// notice ("Error and Notice Message Fields", protocol-error-fields.html).
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/tags.hpp>

#include <string_view>
#include <system_error>

namespace qail::protocol {

/// Field type codes of ErrorResponse / NoticeResponse.
namespace error_field {
inline constexpr char severity = 'S';
inline constexpr char severity_nonlocalized = 'V';
inline constexpr char sqlstate = 'C';
inline constexpr char message = 'M';
inline constexpr char detail = 'D';
inline constexpr char hint = 'H';
inline constexpr char position = 'P';
inline constexpr char internal_position = 'p';
inline constexpr char internal_query = 'q';
inline constexpr char where = 'W';
inline constexpr char schema_name = 's';
inline constexpr char table_name = 't';
inline constexpr char column_name = 'c';
inline constexpr char data_type_name = 'd';
inline constexpr char constraint_name = 'n';
inline constexpr char file = 'F';
inline constexpr char line = 'L';
inline constexpr char routine = 'R';
} // namespace error_field

/// Every field PostgreSQL defines, as views into the message (empty = absent).
/// Unknown field codes are skipped, as the protocol asks frontends to do.
/// A missing SQLSTATE stays empty: consumers must not assume it is there.
struct error_fields {
    std::string_view severity;
    std::string_view severity_nonlocalized;
    std::string_view sqlstate;
    std::string_view message;
    std::string_view detail;
    std::string_view hint;
    std::string_view position;
    std::string_view internal_position;
    std::string_view internal_query;
    std::string_view where;
    std::string_view schema_name;
    std::string_view table_name;
    std::string_view column_name;
    std::string_view data_type_name;
    std::string_view constraint_name;
    std::string_view file;
    std::string_view line;
    std::string_view routine;
    bool operator==(const error_fields&) const = default;

    /// The field with type code `code`, or an empty view.
    [[nodiscard]] std::string_view get(char code) const noexcept;
    /// A pointer to the member for `code`, or nullptr for an unknown code.
    [[nodiscard]] std::string_view* slot(char code) noexcept;
};

struct error_response {
    error_fields fields;
    bool operator==(const error_response&) const = default;
};
struct notice_response {
    error_fields fields;
    bool operator==(const notice_response&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, error_response& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, notice_response& out) noexcept;
/// Decodes the field list of either message.
[[nodiscard]] std::error_code decode_error_fields(byte_view body, error_fields& out) noexcept;

/// Writes the present fields in the protocol's documented order.
void encode(writer& w, const error_response& m);
void encode(writer& w, const notice_response& m);

} // namespace qail::protocol
