// numeric: exact decimal text <-> numeric_send's base-10000 binary form, mirroring
// set_var_from_str, numeric_recv and get_str_from_var in PostgreSQL's numeric.c.
#include <qail/client/detail/types_numeric.hpp>
#include <qail/client/detail/types_wire.hpp>
#include <qail/client/types.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>

namespace qail::client {
namespace {

using boost::system::in_place_value;
using boost::system::result;
using detail::mismatch;

constexpr std::uint16_t sign_pos = 0x0000;
constexpr std::uint16_t sign_neg = 0x4000;
constexpr std::uint16_t sign_nan = 0xC000;
constexpr std::uint16_t sign_pinf = 0xD000;
constexpr std::uint16_t sign_ninf = 0xF000;
constexpr std::int64_t dscale_max = 0x3FFF;        // NUMERIC_DSCALE_MAX
constexpr std::int64_t dec_digits = 4;             // decimal digits per base-10000 digit
constexpr std::int64_t exponent_limit = 1'000'000; // beyond any representable value
// numeric_send reads the dscale of +-Infinity through the short-header macro, which finds
// 0x20 in the sign bits 0xD000/0xF000; sending the same keeps our bytes identical.
constexpr std::int64_t infinity_dscale = 0x20;

[[nodiscard]] constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

/// numeric_in's input split into its parts.
struct numeric_literal {
    std::uint16_t special = 0; ///< sign_nan, sign_pinf or sign_ninf; 0 for a number
    bool negative = false;
    std::string_view integer_digits;  ///< before the point
    std::string_view fraction_digits; ///< after the point
    std::int64_t exponent = 0;
};

/// numeric_in's syntax: spaces, NaN | [+-](Infinity | inf | digits[.digits][e[+-]digits]),
/// spaces; at least one digit on either side of the point.
[[nodiscard]] bool parse_literal(std::string_view text, numeric_literal& lit) noexcept {
    text = detail::wire::trim_space(text);
    if (detail::wire::iequals(text, "nan")) {
        lit.special = sign_nan;
        return true;
    }
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
        lit.negative = text.front() == '-';
        text.remove_prefix(1);
    }
    if (detail::wire::iequals(text, "infinity") || detail::wire::iequals(text, "inf")) {
        lit.special = lit.negative ? sign_ninf : sign_pinf;
        return true;
    }
    std::size_t i = 0;
    while (i < text.size() && is_digit(text[i]))
        ++i;
    lit.integer_digits = text.substr(0, i);
    if (i < text.size() && text[i] == '.') {
        const std::size_t start = ++i;
        while (i < text.size() && is_digit(text[i]))
            ++i;
        lit.fraction_digits = text.substr(start, i - start);
    }
    if (lit.integer_digits.empty() && lit.fraction_digits.empty())
        return false;
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        bool negative_exponent = false;
        if (i < text.size() && (text[i] == '+' || text[i] == '-'))
            negative_exponent = text[i++] == '-';
        const std::size_t start = i;
        std::int64_t e = 0;
        while (i < text.size() && is_digit(text[i])) {
            e = e * 10 + (text[i++] - '0');
            if (e > exponent_limit)
                return false;
        }
        if (i == start)
            return false;
        lit.exponent = negative_exponent ? -e : e;
    }
    return i == text.size();
}

void put_u16(std::string& out, std::uint16_t v) {
    detail::wire::put_be(out, v);
}

void put_header(std::string& out, std::size_t ndigits, std::int64_t weight, std::uint16_t sign,
                std::int64_t dscale) {
    put_u16(out, static_cast<std::uint16_t>(ndigits));
    detail::wire::put_i16(out, static_cast<std::int16_t>(weight));
    put_u16(out, sign);
    put_u16(out, static_cast<std::uint16_t>(dscale));
}

/// The decimal digits of a literal read as one sequence, integer part first.
class decimal_digits {
public:
    explicit decimal_digits(const numeric_literal& lit) noexcept
        : integer_(lit.integer_digits), fraction_(lit.fraction_digits) {}

    [[nodiscard]] std::int64_t size() const noexcept {
        return static_cast<std::int64_t>(integer_.size() + fraction_.size());
    }
    /// Digit k, 0 outside the sequence (the zero padding set_var_from_str adds).
    [[nodiscard]] int at(std::int64_t k) const noexcept {
        if (k < 0 || k >= size())
            return 0;
        const auto u = static_cast<std::size_t>(k);
        return (u < integer_.size() ? integer_[u] : fraction_[u - integer_.size()]) - '0';
    }

private:
    std::string_view integer_;
    std::string_view fraction_;
};

} // namespace

namespace detail {

bool numeric_text_to_binary(std::string_view text, std::string& out) {
    numeric_literal lit;
    if (!parse_literal(text, lit))
        return false;
    if (lit.special != 0) {
        put_header(out, 0, 0, lit.special, lit.special == sign_nan ? 0 : infinity_dscale);
        return true;
    }
    const decimal_digits digits(lit);
    // set_var_from_str: the decimal weight of the first digit and the display scale.
    const std::int64_t dweight =
        static_cast<std::int64_t>(lit.integer_digits.size()) - 1 + lit.exponent;
    std::int64_t dscale = static_cast<std::int64_t>(lit.fraction_digits.size()) - lit.exponent;
    if (dscale < 0)
        dscale = 0;
    if (dscale > dscale_max)
        return false;
    // Align the decimal digits to base-10000 digits: `offset` zeros go before the first.
    const std::int64_t weight = dweight >= 0 ? (dweight + 1 + dec_digits - 1) / dec_digits - 1
                                             : -((-dweight - 1) / dec_digits + 1);
    const std::int64_t offset = (weight + 1) * dec_digits - (dweight + 1);
    const std::int64_t ndigits = (digits.size() + offset + dec_digits - 1) / dec_digits;
    const auto nbase_digit = [&](std::int64_t j) {
        int d = 0;
        for (std::int64_t q = 0; q < dec_digits; ++q)
            d = d * 10 + digits.at(j * dec_digits + q - offset);
        return d;
    };
    // strip_var: drop leading and trailing zero digits; zero is positive with weight 0.
    std::int64_t first = 0;
    while (first < ndigits && nbase_digit(first) == 0)
        ++first;
    std::int64_t last = ndigits;
    while (last > first && nbase_digit(last - 1) == 0)
        --last;
    if (first == last) {
        put_header(out, 0, 0, sign_pos, dscale);
        return true;
    }
    const std::int64_t stripped_weight = weight - first;
    const std::int64_t count = last - first;
    if (stripped_weight > std::numeric_limits<std::int16_t>::max() ||
        stripped_weight < std::numeric_limits<std::int16_t>::min() ||
        count > std::numeric_limits<std::uint16_t>::max())
        return false; // "value overflows numeric format"
    put_header(out, static_cast<std::size_t>(count), stripped_weight,
               lit.negative ? sign_neg : sign_pos, dscale);
    for (std::int64_t j = first; j < last; ++j)
        put_u16(out, static_cast<std::uint16_t>(nbase_digit(j)));
    return true;
}

bool numeric_binary_to_text(std::string_view bytes, std::string& out) {
    if (bytes.size() < 8)
        return false;
    const std::size_t ndigits = detail::wire::load_be<std::uint16_t>(bytes.data());
    const std::int64_t weight = detail::wire::load_i16(bytes.data() + 2);
    const auto sign = detail::wire::load_be<std::uint16_t>(bytes.data() + 4);
    const std::int64_t dscale = detail::wire::load_be<std::uint16_t>(bytes.data() + 6);
    if (bytes.size() != 8 + 2 * ndigits)
        return false;
    if (sign != sign_pos && sign != sign_neg && sign != sign_nan && sign != sign_pinf &&
        sign != sign_ninf)
        return false;
    if (dscale > dscale_max)
        return false;
    const char* digit_bytes = bytes.data() + 8;
    const auto digit = [&](std::size_t i) { return detail::wire::load_i16(digit_bytes + 2 * i); };
    for (std::size_t i = 0; i < ndigits; ++i)
        if (digit(i) < 0 || digit(i) > 9999)
            return false;
    if (sign == sign_nan) {
        out.append("NaN");
        return true;
    }
    if (sign == sign_pinf || sign == sign_ninf) {
        out.append(sign == sign_pinf ? "Infinity" : "-Infinity");
        return true;
    }
    // strip_var's leading-zero removal (numeric_recv normalises before numeric_out prints).
    std::size_t first = 0;
    while (first < ndigits && digit(first) == 0)
        ++first;
    const std::size_t count = ndigits - first;
    const std::int64_t w = count == 0 ? 0 : weight - static_cast<std::int64_t>(first);
    const auto at = [&](std::int64_t i) -> int {
        return i >= 0 && i < static_cast<std::int64_t>(count)
                   ? digit(first + static_cast<std::size_t>(i))
                   : 0;
    };
    const std::size_t sign_at = out.size();
    out.push_back('-'); // removed below unless a nonzero digit is printed
    const std::size_t digits_at = out.size();
    std::array<char, 4> four{};
    const auto put4 = [&](int d) {
        for (int q = 3; q >= 0; --q) {
            four[static_cast<std::size_t>(q)] = static_cast<char>('0' + d % 10);
            d /= 10;
        }
    };
    if (w < 0) {
        out.push_back('0');
    } else {
        for (std::int64_t i = 0; i <= w; ++i) {
            put4(at(i));
            std::size_t skip = 0;
            if (i == 0) // suppress the first digit's leading zeros, keep its last
                while (skip < 3 && four[skip] == '0')
                    ++skip;
            out.append(four.data() + skip, four.size() - skip);
        }
    }
    if (dscale > 0) {
        out.push_back('.');
        for (std::int64_t f = 0; f < dscale; f += dec_digits) {
            put4(at(w + 1 + f / dec_digits));
            const auto n = static_cast<std::size_t>(std::min<std::int64_t>(dec_digits, dscale - f));
            out.append(four.data(), n);
        }
    }
    const bool nonzero = out.find_first_of("123456789", digits_at) != std::string::npos;
    if (sign != sign_neg || !nonzero)
        out.erase(sign_at, 1);
    return true;
}

} // namespace detail

// ---------------------------------------------------------------------------------

result<numeric> numeric::parse(std::string_view text) {
    std::string binary;
    if (!detail::numeric_text_to_binary(text, binary))
        return mismatch;
    numeric n;
    if (!detail::numeric_binary_to_text(binary, n.text))
        return mismatch;
    return {in_place_value, std::move(n)};
}

void value_traits<numeric>::to_text(const numeric& v, std::string& out) {
    out.append(v.text);
}

void value_traits<numeric>::to_binary(const numeric& v, std::string& out) {
    if (!detail::numeric_text_to_binary(v.text, out))
        put_header(out, 0, 0, 0xFFFF, 0); // numeric_recv: "invalid sign in external value"
}

result<numeric> value_traits<numeric>::from_text(std::string_view text, std::int32_t type_oid) {
    switch (type_oid == 0 ? oid : type_oid) {
    case oid::numeric:
    case oid::int2:
    case oid::int4:
    case oid::int8:
    case oid::oid: {
        numeric_literal lit;
        if (!parse_literal(text, lit))
            return mismatch;
        return {in_place_value, numeric{std::string(text)}};
    }
    default:
        return mismatch;
    }
}

result<numeric> value_traits<numeric>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    switch (type_oid == 0 ? oid : type_oid) {
    case oid::numeric: {
        numeric n;
        if (!detail::numeric_binary_to_text(bytes, n.text))
            return mismatch;
        return {in_place_value, std::move(n)};
    }
    case oid::int2:
    case oid::int4:
    case oid::int8:
    case oid::oid: {
        const auto v = value_traits<std::int64_t>::from_binary(bytes, type_oid);
        if (!v)
            return mismatch;
        numeric n;
        value_traits<std::int64_t>::to_text(*v, n.text);
        return {in_place_value, std::move(n)};
    }
    default:
        return mismatch;
    }
}

} // namespace qail::client
