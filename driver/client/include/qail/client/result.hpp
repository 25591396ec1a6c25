// Query results: column descriptions, rows stored in one contiguous buffer,
// and typed access to a value by column index or name.
#pragma once

#include <qail/client/error.hpp>
#include <qail/client/types.hpp>
#include <qail/protocol/simple_query.hpp>

#include <boost/system/result.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace qail::client {

/// One column of a result (an owned copy of a RowDescription field).
struct column {
    std::string name;
    std::int32_t table_oid = 0;
    std::int16_t column_attribute = 0;
    std::int32_t type_oid = 0;
    std::int16_t type_size = 0;
    std::int32_t type_modifier = 0;
    protocol::format_code format = protocol::format_code::text;
};

class result_set;

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
} // namespace detail

/// One row of a result_set; a cheap view, valid while the result_set lives.
class row {
public:
    row(const result_set& rs, std::size_t index) noexcept : rs_(&rs), index_(index) {}

    [[nodiscard]] std::size_t size() const noexcept;
    /// The raw bytes of column `i` (nullopt for NULL), in the column's format.
    [[nodiscard]] std::optional<std::string_view> raw(std::size_t i) const noexcept;
    [[nodiscard]] bool is_null(std::size_t i) const noexcept { return !raw(i).has_value(); }

    /// Column `i` converted to T (std::optional<T> accepts NULL).
    template <class T>
    [[nodiscard]] boost::system::result<T> get(std::size_t i) const;
    /// The column called `name` converted to T; column_not_found if there is none.
    template <class T>
    [[nodiscard]] boost::system::result<T> get(std::string_view name) const;
    /// As get(), throwing boost::system::system_error on failure.
    template <class T>
    [[nodiscard]] T as(std::size_t i) const {
        return get<T>(i).value();
    }
    template <class T>
    [[nodiscard]] T as(std::string_view name) const {
        return get<T>(name).value();
    }

private:
    const result_set* rs_;
    std::size_t index_;
};

/// The rows and command tag of one statement.
class result_set {
public:
    [[nodiscard]] const std::vector<column>& columns() const noexcept { return columns_; }
    [[nodiscard]] std::optional<std::size_t> column_index(std::string_view name) const noexcept;
    [[nodiscard]] std::size_t size() const noexcept {
        return columns_.empty() ? row_count_ : cells_.size() / columns_.size();
    }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] row operator[](std::size_t i) const noexcept { return row{*this, i}; }
    /// "SELECT 3", "INSERT 0 1", ... (empty for an empty query).
    [[nodiscard]] const std::string& command_tag() const noexcept { return tag_; }
    /// The row count of the command tag (INSERT/UPDATE/DELETE/SELECT/COPY/...), 0 if none.
    [[nodiscard]] std::uint64_t rows_affected() const noexcept;

    class iterator {
    public:
        using value_type = row;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const result_set* rs, std::size_t i) noexcept : rs_(rs), i_(i) {}
        row operator*() const noexcept { return row{*rs_, i_}; }
        iterator& operator++() noexcept {
            ++i_;
            return *this;
        }
        iterator operator++(int) noexcept {
            auto t = *this;
            ++i_;
            return t;
        }
        bool operator==(const iterator&) const = default;

    private:
        const result_set* rs_ = nullptr;
        std::size_t i_ = 0;
    };
    [[nodiscard]] iterator begin() const noexcept { return {this, 0}; }
    [[nodiscard]] iterator end() const noexcept { return {this, size()}; }

    // --- building (used by the connection) ---
    void set_columns(const protocol::row_description& rd);
    /// Appends a DataRow; returns false if its column count does not match.
    [[nodiscard]] bool add_row(const protocol::data_row& dr);
    void set_command_tag(std::string_view tag) { tag_.assign(tag); }

private:
    friend class row;
    struct cell {
        std::size_t offset = 0;
        std::int32_t length = -1; // -1 = NULL
    };
    std::vector<column> columns_;
    std::string data_;        // all values, back to back
    std::vector<cell> cells_; // row-major, columns_.size() per row
    std::size_t row_count_ = 0;
    std::string tag_;
};

inline std::size_t row::size() const noexcept {
    return rs_->columns_.size();
}

inline std::optional<std::string_view> row::raw(std::size_t i) const noexcept {
    const std::size_t n = rs_->columns_.size();
    if (i >= n)
        return std::nullopt;
    const auto& c = rs_->cells_[index_ * n + i];
    if (c.length < 0)
        return std::nullopt;
    return std::string_view{rs_->data_}.substr(c.offset, static_cast<std::size_t>(c.length));
}

template <class T>
boost::system::result<T> row::get(std::size_t i) const {
    using out = boost::system::result<T>;
    if (i >= size())
        return out(boost::system::in_place_error, make_error_code(errc::column_not_found));
    const column& col = rs_->columns_[i];
    const auto bytes = raw(i);
    if (!bytes) {
        if constexpr (detail::is_optional<T>::value)
            return T{};
        else
            return out(boost::system::in_place_error, make_error_code(errc::unexpected_null));
    } else {
        return col.format == protocol::format_code::binary
                   ? value_traits<T>::from_binary(*bytes, col.type_oid)
                   : value_traits<T>::from_text(*bytes, col.type_oid);
    }
}

template <class T>
boost::system::result<T> row::get(std::string_view name) const {
    const auto i = rs_->column_index(name);
    if (!i)
        return boost::system::result<T>(boost::system::in_place_error,
                                        make_error_code(errc::column_not_found));
    return get<T>(*i);
}

} // namespace qail::client
