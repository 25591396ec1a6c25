// The non-template half of the array conversions: array_out quoting, an array_in reader
// for one-dimensional literals, and array_send/array_recv header handling.
#include <qail/client/detail/types_array.hpp>
#include <qail/client/detail/types_wire.hpp>

#include <charconv>
#include <limits>

namespace qail::client::detail {

using namespace wire;

namespace {

[[nodiscard]] bool needs_quotes(std::string_view element) noexcept {
    if (element.empty() || iequals(element, "null"))
        return true;
    for (const char c : element)
        if (c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || is_pg_space(c))
            return true;
    return false;
}

/// Copies `raw` without its escaping backslashes (each escapes the byte after it).
void unescape(std::string_view raw, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '\\' && i + 1 < raw.size())
            ++i;
        out.push_back(raw[i]);
    }
}

[[nodiscard]] bool parse_bound(std::string_view text, std::size_t& pos, std::int64_t& v) noexcept {
    std::int32_t n = 0;
    const auto [p, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), n);
    if (ec != std::errc{})
        return false;
    pos = static_cast<std::size_t>(p - text.data());
    v = n;
    return true;
}

} // namespace

void append_array_element(std::string& out, std::string_view element) {
    if (!needs_quotes(element)) {
        out.append(element);
        return;
    }
    out.push_back('"');
    for (const char c : element) {
        if (c == '"' || c == '\\')
            out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
}

void array_text_reader::skip_space() noexcept {
    while (pos_ < text_.size() && is_pg_space(text_[pos_]))
        ++pos_;
}

bool array_text_reader::open() noexcept {
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '[') {
        // "[lower:upper]=" or "[upper]=" (lower bound 1); a second "[...]" is a second
        // dimension.
        ++pos_;
        std::int64_t lower = 1;
        std::int64_t upper = 0;
        if (!parse_bound(text_, pos_, upper))
            return false;
        if (pos_ < text_.size() && text_[pos_] == ':') {
            ++pos_;
            lower = upper;
            if (!parse_bound(text_, pos_, upper))
                return false;
        }
        if (pos_ >= text_.size() || text_[pos_] != ']' || upper < lower)
            return false;
        ++pos_;
        expected_ = upper - lower + 1;
        skip_space();
        if (pos_ >= text_.size() || text_[pos_] != '=')
            return false;
        ++pos_;
        skip_space();
    }
    if (pos_ >= text_.size() || text_[pos_] != '{')
        return false;
    ++pos_;
    return true;
}

array_text_reader::step array_text_reader::finish() noexcept {
    skip_space();
    if (pos_ != text_.size() || (expected_ >= 0 && expected_ != count_))
        return step::error;
    return step::end;
}

array_text_reader::step array_text_reader::next(std::string_view& value) {
    if (closed_)
        return finish();
    skip_space();
    if (pos_ >= text_.size())
        return step::error;
    if (first_ && text_[pos_] == '}') {
        ++pos_;
        closed_ = true;
        return finish();
    }
    first_ = false;
    bool escaped = false;
    bool null = false;
    if (text_[pos_] == '{')
        return step::error; // a nested dimension
    if (text_[pos_] == '"') {
        const std::size_t start = ++pos_;
        for (;;) {
            if (pos_ >= text_.size())
                return step::error;
            if (text_[pos_] == '\\') {
                escaped = true;
                pos_ += 2;
                continue;
            }
            if (text_[pos_] == '"')
                break;
            ++pos_;
        }
        value = text_.substr(start, pos_ - start);
        ++pos_;
    } else {
        // Unquoted: up to an unescaped ',' or '}', trailing unescaped whitespace dropped.
        const std::size_t start = pos_;
        std::size_t end = pos_;
        for (;;) {
            if (pos_ >= text_.size())
                return step::error;
            const char c = text_[pos_];
            if (c == ',' || c == '}')
                break;
            if (c == '"' || c == '{')
                return step::error;
            if (c == '\\') {
                if (pos_ + 1 >= text_.size())
                    return step::error;
                escaped = true;
                pos_ += 2;
                end = pos_;
                continue;
            }
            ++pos_;
            if (!is_pg_space(c))
                end = pos_;
        }
        if (end == start)
            return step::error; // an empty element: "{,}" or "{a,}"
        value = text_.substr(start, end - start);
        null = !escaped && iequals(value, "null");
    }
    skip_space();
    if (pos_ >= text_.size())
        return step::error;
    if (text_[pos_] == '}')
        closed_ = true;
    else if (text_[pos_] != ',')
        return step::error;
    ++pos_;
    ++count_;
    if (null)
        return step::null;
    if (escaped) {
        unescape(value, scratch_);
        value = scratch_;
    }
    return step::element;
}

boost::system::result<std::int32_t> array_text_element_oid(std::int32_t type_oid) {
    if (type_oid == 0)
        return {boost::system::in_place_value, 0};
    const auto element = oid::element_of(type_oid);
    if (element == 0)
        return mismatch;
    return {boost::system::in_place_value, element};
}

boost::system::result<array_binary_header> read_array_header(std::string_view bytes,
                                                             std::int32_t type_oid) {
    if (bytes.size() < 12)
        return mismatch;
    const std::int32_t ndim = load_i32(bytes.data());
    const std::int32_t flags = load_i32(bytes.data() + 4);
    array_binary_header h;
    h.element_oid = load_i32(bytes.data() + 8);
    if (ndim < 0 || ndim > 1 || (flags != 0 && flags != 1))
        return mismatch;
    if (type_oid != 0 && h.element_oid != oid::element_of(type_oid))
        return mismatch;
    std::size_t pos = 12;
    if (ndim == 1) {
        if (bytes.size() < 20)
            return mismatch;
        const std::int32_t length = load_i32(bytes.data() + 12);
        const std::int32_t lower = load_i32(bytes.data() + 16);
        // ArrayCheckBounds: the dimension plus its lower bound must fit an Int32.
        if (length < 0 || std::int64_t{lower} + length > std::numeric_limits<std::int32_t>::max())
            return mismatch;
        pos = 20;
        h.count = static_cast<std::size_t>(length);
        // Every element has at least its 4-byte length.
        if (h.count > (bytes.size() - pos) / 4)
            return mismatch;
    }
    h.elements = bytes.substr(pos);
    return {boost::system::in_place_value, h};
}

bool next_array_element(std::string_view& rest, std::optional<std::string_view>& element) noexcept {
    if (rest.size() < 4)
        return false;
    const std::int32_t length = load_i32(rest.data());
    rest.remove_prefix(4);
    if (length == -1) {
        element.reset();
        return true;
    }
    if (length < 0 || static_cast<std::size_t>(length) > rest.size())
        return false;
    element = rest.substr(0, static_cast<std::size_t>(length));
    rest.remove_prefix(static_cast<std::size_t>(length));
    return true;
}

std::size_t begin_array_binary(std::string& out, std::int32_t element_oid, std::size_t count) {
    put_i32(out, count == 0 ? 0 : 1); // ndim: an empty array has no dimensions
    const std::size_t flags_at = out.size();
    put_i32(out, 0);
    put_i32(out, element_oid);
    if (count != 0) {
        put_i32(out, static_cast<std::int32_t>(count)); // PostgreSQL's MaxArraySize is far below
        put_i32(out, 1);                                // lower bound
    }
    return flags_at;
}

} // namespace qail::client::detail
