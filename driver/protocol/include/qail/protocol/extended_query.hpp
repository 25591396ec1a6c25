// Extended-query messages: Parse, Bind, Describe, Execute, Sync, Flush, Close
// and the server's ParseComplete, BindComplete, CloseComplete,
// ParameterDescription, NoData, PortalSuspended.
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/packed.hpp>
#include <qail/protocol/tags.hpp>

#include <cstdint>
#include <string_view>
#include <system_error>

namespace qail::protocol {

/// What a Describe or Close names: a prepared statement ('S') or a portal ('P').
enum class target_kind : char {
    statement = 'S',
    portal = 'P',
};

/// Parse: create a prepared statement (the empty name is the unnamed one).
struct parse {
    std::string_view statement;
    std::string_view sql;
    int32_array parameter_types; // OIDs; 0 = let the server infer
    bool operator==(const parse&) const = default;
};
/// Bind: create a portal from a prepared statement and parameter values.
struct bind {
    std::string_view portal;
    std::string_view statement;
    int16_array parameter_formats;
    value_list parameters;
    int16_array result_formats;
    bool operator==(const bind&) const = default;
};
struct describe {
    target_kind kind = target_kind::statement;
    std::string_view name;
    bool operator==(const describe&) const = default;
};
/// Execute: run a portal; max_rows 0 means no limit.
struct execute {
    std::string_view portal;
    std::int32_t max_rows = 0;
    bool operator==(const execute&) const = default;
};
struct sync {
    bool operator==(const sync&) const = default;
};
struct flush {
    bool operator==(const flush&) const = default;
};
struct close {
    target_kind kind = target_kind::statement;
    std::string_view name;
    bool operator==(const close&) const = default;
};

struct parse_complete {
    bool operator==(const parse_complete&) const = default;
};
struct bind_complete {
    bool operator==(const bind_complete&) const = default;
};
struct close_complete {
    bool operator==(const close_complete&) const = default;
};
/// ParameterDescription: the parameter type OIDs of a described statement.
struct parameter_description {
    int32_array type_oids;
    bool operator==(const parameter_description&) const = default;
};
struct no_data {
    bool operator==(const no_data&) const = default;
};
struct portal_suspended {
    bool operator==(const portal_suspended&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, parse& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, bind& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, describe& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, execute& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, sync& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, flush& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, close& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, parse_complete& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, bind_complete& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, close_complete& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, parameter_description& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, no_data& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, portal_suspended& out) noexcept;

/// Parse from any range of OIDs.
template <class Types>
void encode_parse(writer& w, std::string_view statement, std::string_view sql,
                  const Types& parameter_types) {
    const std::size_t mark = w.begin_message(frontend_tag::parse);
    w.put_cstr(statement);
    w.put_cstr(sql);
    put_int_array<std::int32_t>(w, parameter_types);
    w.end_message(mark);
}
/// Bind from ranges of format codes (convertible to int16), values
/// (convertible to optional<byte_view>) and result format codes.
template <class Formats, class Values, class ResultFormats>
void encode_bind(writer& w, std::string_view portal, std::string_view statement,
                 const Formats& parameter_formats, const Values& parameters,
                 const ResultFormats& result_formats) {
    const std::size_t mark = w.begin_message(frontend_tag::bind);
    w.put_cstr(portal);
    w.put_cstr(statement);
    put_int_array<std::int16_t>(w, parameter_formats);
    put_value_list(w, parameters);
    put_int_array<std::int16_t>(w, result_formats);
    w.end_message(mark);
}
/// ParameterDescription from any range of OIDs.
template <class Types>
void encode_parameter_description(writer& w, const Types& type_oids) {
    const std::size_t mark = w.begin_message(backend_tag::parameter_description);
    put_int_array<std::int32_t>(w, type_oids);
    w.end_message(mark);
}

void encode(writer& w, const parse& m);
void encode(writer& w, const bind& m);
void encode(writer& w, const describe& m);
void encode(writer& w, const execute& m);
void encode(writer& w, const sync& m);
void encode(writer& w, const flush& m);
void encode(writer& w, const close& m);
void encode(writer& w, const parse_complete& m);
void encode(writer& w, const bind_complete& m);
void encode(writer& w, const close_complete& m);
void encode(writer& w, const parameter_description& m);
void encode(writer& w, const no_data& m);
void encode(writer& w, const portal_suspended& m);

} // namespace qail::protocol
