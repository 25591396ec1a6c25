// Simple-query messages and the result messages shared with the extended
// protocol: Query, RowDescription, DataRow, CommandComplete, EmptyQueryResponse.
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/packed.hpp>
#include <qail/protocol/tags.hpp>

#include <cstdint>
#include <string_view>
#include <system_error>

namespace qail::protocol {

/// Wire format of a value: text (0) or binary (1).
enum class format_code : std::int16_t {
    text = 0,
    binary = 1,
};

/// Query: one or more SQL statements to run with the simple protocol.
struct query {
    std::string_view sql;
    bool operator==(const query&) const = default;
};

/// One column of a RowDescription.
struct field_description {
    std::string_view name;
    std::int32_t table_oid = 0;
    std::int16_t column_attribute = 0;
    std::int32_t type_oid = 0;
    std::int16_t type_size = 0;
    std::int32_t type_modifier = 0;
    format_code format = format_code::text;
    bool operator==(const field_description&) const = default;
};

/// The validated columns of a RowDescription, decoded lazily on iteration.
class field_list {
public:
    field_list() = default;
    field_list(byte_view raw, std::size_t count) noexcept : raw_(raw), count_(count) {}

    class iterator {
    public:
        using value_type = field_description;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(const char* p) noexcept : p_(p) {}
        field_description operator*() const noexcept;
        iterator& operator++() noexcept;
        iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator&) const = default;

    private:
        const char* p_ = nullptr;
    };

    [[nodiscard]] iterator begin() const noexcept { return iterator{raw_.data()}; }
    [[nodiscard]] iterator end() const noexcept { return iterator{raw_.data() + raw_.size()}; }
    [[nodiscard]] std::size_t size() const noexcept { return count_; }
    [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
    [[nodiscard]] byte_view raw() const noexcept { return raw_; }
    bool operator==(const field_list& o) const noexcept {
        return count_ == o.count_ && raw_ == o.raw_;
    }

private:
    byte_view raw_;
    std::size_t count_ = 0;
};

/// RowDescription: the columns of the rows that follow.
struct row_description {
    field_list fields;
    bool operator==(const row_description&) const = default;
};
/// DataRow: one row's values (NULL as nullopt).
struct data_row {
    value_list values;
    bool operator==(const data_row&) const = default;
};
/// CommandComplete: the command tag ("SELECT 3", "INSERT 0 1", ...).
struct command_complete {
    std::string_view tag;
    bool operator==(const command_complete&) const = default;
};
/// EmptyQueryResponse: the query string was empty.
struct empty_query_response {
    bool operator==(const empty_query_response&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, query& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, row_description& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, data_row& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, command_complete& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, empty_query_response& out) noexcept;

void encode(writer& w, const query& m);
/// RowDescription from any range of field_description.
template <class Fields>
void encode_row_description(writer& w, const Fields& fields) {
    const std::size_t mark = w.begin_message(backend_tag::row_description);
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& f : fields)
        ++n;
    w.put_count16(n);
    for (const field_description f : fields) {
        w.put_cstr(f.name);
        w.put_i32(f.table_oid);
        w.put_i16(f.column_attribute);
        w.put_i32(f.type_oid);
        w.put_i16(f.type_size);
        w.put_i32(f.type_modifier);
        w.put_i16(static_cast<std::int16_t>(f.format));
    }
    w.end_message(mark);
}
void encode(writer& w, const row_description& m);
/// DataRow from any range of optional<byte_view>.
template <class Values>
void encode_data_row(writer& w, const Values& values) {
    const std::size_t mark = w.begin_message(backend_tag::data_row);
    put_value_list(w, values);
    w.end_message(mark);
}
void encode(writer& w, const data_row& m);
void encode(writer& w, const command_complete& m);
void encode(writer& w, const empty_query_response& m);

} // namespace qail::protocol
