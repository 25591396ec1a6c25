// value_traits for std::vector<T>: one-dimensional PostgreSQL arrays in array_out/array_in
// text syntax and array_send/array_recv binary layout.
#pragma once

#include <qail/client/detail/types_wire.hpp>
#include <qail/client/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace qail::client {
namespace detail {

/// Appends one element's text form to an array literal, double-quoted and backslash-escaped
/// when array_out would quote it (empty, NULL in any case, whitespace, quotes, backslashes,
/// braces or the ',' delimiter).
void append_array_element(std::string& out, std::string_view element);

/// Reads the elements of a one-dimensional array literal in array_in's syntax, allowing an
/// optional "[lower:upper]=" bounds decoration (the bounds are checked, then dropped).
class array_text_reader {
public:
    enum class step { element, null, end, error };

    explicit array_text_reader(std::string_view text) noexcept : text_(text) {}

    /// Parses up to and including the opening brace; false if that is not a 1-D literal.
    [[nodiscard]] bool open() noexcept;
    /// The next element. For step::element, `value` holds the unquoted, unescaped text and
    /// stays valid until the next call (it views the input when nothing was escaped).
    /// step::end comes only after the closing brace and nothing but whitespace after it.
    [[nodiscard]] step next(std::string_view& value);

private:
    [[nodiscard]] step finish() noexcept;
    void skip_space() noexcept;

    std::string_view text_;
    std::size_t pos_ = 0;
    std::int64_t count_ = 0;
    std::int64_t expected_ = -1; // from the bounds decoration, -1 when there is none
    bool first_ = true;
    bool closed_ = false;
    std::string scratch_;
};

/// The element type to decode the elements of a text array of type `type_oid` with:
/// 0 for 0, the element type for an array type of the oid table, else type_mismatch.
[[nodiscard]] boost::system::result<std::int32_t> array_text_element_oid(std::int32_t type_oid);

struct array_binary_header {
    std::int32_t element_oid = 0;
    std::size_t count = 0;
    std::string_view elements; ///< the length-prefixed elements, not yet checked
};

/// Reads array_send's header: ndim (0 = empty, 1; more is type_mismatch), the has-null flag
/// (0 or 1), the element type (checked against element_of(type_oid) unless type_oid is 0),
/// and the dimension with its lower bound. The count is checked against the bytes present,
/// so reserving `count` elements is bounded by the input size.
[[nodiscard]] boost::system::result<array_binary_header> read_array_header(std::string_view bytes,
                                                                           std::int32_t type_oid);

/// Splits the next length-prefixed element off `rest` (std::nullopt for NULL).
/// Returns false when `rest` is truncated or the length is below -1.
[[nodiscard]] bool next_array_element(std::string_view& rest,
                                      std::optional<std::string_view>& element) noexcept;

/// Writes array_send's header for `count` elements of `element_oid` (ndim 0 when empty) and
/// returns the offset of the has-null flag, for patch_i32 when a NULL element follows.
[[nodiscard]] std::size_t begin_array_binary(std::string& out, std::int32_t element_oid,
                                             std::size_t count);

} // namespace detail

/// std::vector<T>: a one-dimensional array of T (use std::vector<std::optional<T>> when
/// elements may be NULL; a NULL read into std::vector<T> is errc::unexpected_null).
/// Multi-dimensional arrays are refused with type_mismatch; lower bounds are dropped.
template <class T>
struct value_traits<std::vector<T>> {
    static_assert(oid::array_of(value_traits<T>::oid) != 0,
                  "no PostgreSQL array type for this element type (nested vectors would be "
                  "multi-dimensional arrays, which are not supported)");
    static constexpr std::int32_t oid = oid::array_of(value_traits<T>::oid);

    static void to_text(const std::vector<T>& v, std::string& out) {
        out.push_back('{');
        std::string element;
        bool first = true;
        for (const auto& e : v) {
            if (!first)
                out.push_back(',');
            first = false;
            element.clear();
            if (encode_value<T>(e, protocol::format_code::text, element))
                detail::append_array_element(out, element);
            else
                out.append("NULL");
        }
        out.push_back('}');
    }

    static void to_binary(const std::vector<T>& v, std::string& out) {
        const auto flags_at = detail::begin_array_binary(out, value_traits<T>::oid, v.size());
        for (const auto& e : v) {
            const auto length_at = out.size();
            detail::wire::put_i32(out, 0);
            // PostgreSQL caps a value at 1 GB, so the length fits the Int32 field.
            if (encode_value<T>(e, protocol::format_code::binary, out)) {
                detail::wire::patch_i32(out, length_at,
                                        static_cast<std::int32_t>(out.size() - length_at - 4));
            } else {
                detail::wire::patch_i32(out, length_at, -1);
                detail::wire::patch_i32(out, flags_at, 1);
            }
        }
    }

    [[nodiscard]] static boost::system::result<std::vector<T>> from_text(std::string_view text,
                                                                         std::int32_t type_oid) {
        static_assert(!std::is_same_v<T, std::string_view>,
                      "text array elements may need unescaping, so they cannot be views: "
                      "decode std::vector<std::string>");
        const auto element_oid = detail::array_text_element_oid(type_oid);
        if (!element_oid)
            return detail::propagate<std::vector<T>>(element_oid.error());
        detail::array_text_reader reader(text);
        if (!reader.open())
            return detail::mismatch;
        std::vector<T> out;
        for (;;) {
            std::string_view value;
            switch (reader.next(value)) {
            case detail::array_text_reader::step::end:
                return {boost::system::in_place_value, std::move(out)};
            case detail::array_text_reader::step::error:
                return detail::mismatch;
            case detail::array_text_reader::step::null:
                if constexpr (nullable_value<T>)
                    out.push_back(value_traits<T>::null());
                else
                    return detail::failure{errc::unexpected_null};
                break;
            case detail::array_text_reader::step::element: {
                auto r = value_traits<T>::from_text(value, *element_oid);
                if (!r)
                    return detail::propagate<std::vector<T>>(r.error());
                out.push_back(std::move(*r));
                break;
            }
            }
        }
    }

    [[nodiscard]] static boost::system::result<std::vector<T>> from_binary(std::string_view bytes,
                                                                           std::int32_t type_oid) {
        const auto header = detail::read_array_header(bytes, type_oid);
        if (!header)
            return detail::propagate<std::vector<T>>(header.error());
        std::vector<T> out;
        out.reserve(header->count);
        auto rest = header->elements;
        for (std::size_t i = 0; i < header->count; ++i) {
            std::optional<std::string_view> element;
            if (!detail::next_array_element(rest, element))
                return detail::mismatch;
            if (!element) {
                if constexpr (nullable_value<T>)
                    out.push_back(value_traits<T>::null());
                else
                    return detail::failure{errc::unexpected_null};
                continue;
            }
            auto r = value_traits<T>::from_binary(*element, header->element_oid);
            if (!r)
                return detail::propagate<std::vector<T>>(r.error());
            out.push_back(std::move(*r));
        }
        if (!rest.empty())
            return detail::mismatch;
        return {boost::system::in_place_value, std::move(out)};
    }
};

} // namespace qail::client
