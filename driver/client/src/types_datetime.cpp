// date, timestamp and timestamptz: ISO text as PostgreSQL prints it with DateStyle ISO,
// the Int32/Int64 binary forms counted from 2000-01-01, and std::chrono conversions.
#include <qail/client/detail/types_wire.hpp>
#include <qail/client/types.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace qail::client {
namespace {

using boost::system::in_place_value;
using boost::system::result;
using detail::mismatch;

constexpr std::int64_t usecs_per_second = 1'000'000;
constexpr std::int64_t usecs_per_day = 86'400 * usecs_per_second;
constexpr std::int64_t unix_to_pg_days = 10'957; // 1970-01-01 .. 2000-01-01
constexpr std::int64_t unix_to_pg_usecs = unix_to_pg_days * usecs_per_day;
// PostgreSQL's ranges (datatype/timestamp.h): Julian day 0 = 4714-11-24 BC up to, not
// including, 5874898-01-01 for dates and 294277-01-01 for timestamps.
constexpr std::int64_t date_min = -2'451'545;
constexpr std::int64_t date_end = 2'145'031'949;
constexpr std::int64_t timestamp_min = date_min * usecs_per_day;
constexpr std::int64_t timestamp_end_days = 106'751'983;
constexpr std::int64_t timestamp_end = timestamp_end_days * usecs_per_day;

constexpr std::int32_t date_ninf = std::numeric_limits<std::int32_t>::min();
constexpr std::int32_t date_pinf = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t ts_ninf = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t ts_pinf = std::numeric_limits<std::int64_t>::max();

// Proleptic Gregorian calendar, astronomical years (1 BC = year 0), days since 1970-01-01:
// Howard Hinnant's days_from_civil / civil_from_days.
[[nodiscard]] constexpr std::int64_t days_from_civil(std::int64_t y, std::int64_t m,
                                                     std::int64_t d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146'097 + doe - 719'468;
}

struct civil_date {
    std::int64_t year;
    std::int64_t month;
    std::int64_t day;
};

[[nodiscard]] constexpr civil_date civil_from_days(std::int64_t z) noexcept {
    z += 719'468;
    const std::int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    const std::int64_t doe = z - era * 146'097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

static_assert(days_from_civil(2000, 1, 1) == unix_to_pg_days);
static_assert(days_from_civil(-4713, 11, 24) - unix_to_pg_days == date_min);
static_assert(days_from_civil(5'874'898, 1, 1) - unix_to_pg_days == date_end);
static_assert(days_from_civil(294'277, 1, 1) - unix_to_pg_days == timestamp_end_days);

[[nodiscard]] constexpr bool is_leap(std::int64_t y) noexcept {
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

[[nodiscard]] constexpr std::int64_t days_in_month(std::int64_t y, std::int64_t m) noexcept {
    constexpr std::array<std::int64_t, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[static_cast<std::size_t>(m - 1)];
}

// ---------------------------------------------------------------------------------
// Text input.

enum class shape { date, timestamp, timestamptz };

/// A parsed date/time literal; `special` is +1/-1 for [+-]infinity.
struct datetime_fields {
    int special = 0;
    std::int64_t days = 0;   ///< since 2000-01-01, of the local date
    std::int64_t usecs = 0;  ///< since local midnight (may reach a full day: 24:00:00)
    std::int64_t offset = 0; ///< zone offset east of UTC, seconds
};

class scanner {
public:
    explicit scanner(std::string_view s) noexcept : s_(s) {}

    [[nodiscard]] bool done() const noexcept { return pos_ == s_.size(); }
    [[nodiscard]] bool accept(char c) noexcept {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    [[nodiscard]] bool next_is_digit() const noexcept {
        return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9';
    }
    /// Between `min` and `max` decimal digits (greedy).
    [[nodiscard]] bool number(std::size_t min, std::size_t max, std::int64_t& v) noexcept {
        v = 0;
        std::size_t n = 0;
        while (n < max && next_is_digit()) {
            v = v * 10 + (s_[pos_++] - '0');
            ++n;
        }
        return n >= min;
    }
    /// A case-insensitive suffix " BC" ending the input.
    [[nodiscard]] bool accept_bc() noexcept {
        const auto rest = s_.substr(pos_);
        if (!detail::wire::iequals(rest, " bc"))
            return false;
        pos_ = s_.size();
        return true;
    }
    void skip_digits() noexcept {
        while (next_is_digit())
            ++pos_;
    }
    [[nodiscard]] std::size_t position() const noexcept { return pos_; }
    [[nodiscard]] std::string_view since(std::size_t position) const noexcept {
        return s_.substr(position, pos_ - position);
    }

private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

/// ".ddd" (at least one digit) as microseconds the way ParseFractionalSecond computes them:
/// strtod, then rint(fraction * 1e6) in double arithmetic, so ".1234565" gives 123456 as in
/// PostgreSQL (the double just below the tie rounds down).
[[nodiscard]] bool fraction_micros(std::string_view point_digits, std::int64_t& micros) noexcept {
    if (point_digits.size() < 2)
        return false;
    double fraction = 0;
    const char* end = point_digits.data() + point_digits.size();
    const auto [p, ec] =
        std::from_chars(point_digits.data(), end, fraction, std::chars_format::fixed);
    if (ec != std::errc{} || p != end)
        return false;
    micros = static_cast<std::int64_t>(std::rint(fraction * static_cast<double>(usecs_per_second)));
    return true;
}

/// [+-]HH[[:]MM[[:]SS]] or Z; seconds east of UTC. PostgreSQL allows up to 15:59:59.
[[nodiscard]] bool parse_offset(scanner& in, std::int64_t& offset) noexcept {
    if (in.accept('Z') || in.accept('z')) {
        offset = 0;
        return true;
    }
    std::int64_t sign = 0;
    if (in.accept('+'))
        sign = 1;
    else if (in.accept('-'))
        sign = -1;
    else
        return false;
    std::int64_t h = 0;
    std::int64_t m = 0;
    std::int64_t s = 0;
    if (!in.number(2, 2, h) || h > 15)
        return false;
    const bool colon = in.accept(':');
    if (colon || in.next_is_digit()) {
        if (!in.number(2, 2, m) || m > 59)
            return false;
        if (colon ? in.accept(':') : in.next_is_digit()) {
            if (!in.number(2, 2, s) || s > 59)
                return false;
        }
    }
    offset = sign * ((h * 60 + m) * 60 + s);
    return true;
}

/// The ISO DateStyle forms PostgreSQL prints (see the parse() comments in types.hpp).
[[nodiscard]] bool parse_datetime(std::string_view text, shape kind, datetime_fields& f) noexcept {
    text = detail::wire::trim_space(text);
    if (detail::wire::iequals(text, "infinity") || detail::wire::iequals(text, "+infinity")) {
        f.special = 1;
        return true;
    }
    if (detail::wire::iequals(text, "-infinity")) {
        f.special = -1;
        return true;
    }
    scanner in(text);
    std::int64_t year = 0;
    std::int64_t month = 0;
    std::int64_t day = 0;
    if (!in.number(4, 9, year) || !in.accept('-') || !in.number(2, 2, month) || !in.accept('-') ||
        !in.number(2, 2, day))
        return false;
    std::int64_t hour = 0;
    std::int64_t minute = 0;
    std::int64_t second = 0;
    std::int64_t micros = 0;
    if (kind != shape::date) {
        if (!(in.accept(' ') || in.accept('T')) || !in.number(2, 2, hour) || !in.accept(':') ||
            !in.number(2, 2, minute))
            return false;
        if (in.accept(':')) {
            if (!in.number(2, 2, second))
                return false;
            const std::size_t point = in.position();
            if (in.accept('.')) {
                in.skip_digits();
                if (!fraction_micros(in.since(point), micros))
                    return false;
            }
        }
        // As DecodeTime and the timestamp range check: a leap second 60 is allowed, and
        // the time of day may reach 24:00:00 but not pass it.
        if (hour > 24 || minute > 59 || second > 60 ||
            ((hour * 60 + minute) * 60 + second) * usecs_per_second + micros > usecs_per_day)
            return false;
        if (kind == shape::timestamptz && !parse_offset(in, f.offset))
            return false;
    }
    const bool bc = in.accept_bc();
    if (!in.done() || year < 1 || month < 1 || month > 12)
        return false;
    const std::int64_t astronomical = bc ? 1 - year : year;
    if (day < 1 || day > days_in_month(astronomical, month))
        return false;
    f.days = days_from_civil(astronomical, month, day) - unix_to_pg_days;
    f.usecs = ((hour * 60 + minute) * 60 + second) * usecs_per_second + micros;
    return true;
}

[[nodiscard]] result<date> date_from_fields(const datetime_fields& f) noexcept {
    if (f.special != 0)
        return {in_place_value, f.special > 0 ? date::infinity() : date::minus_infinity()};
    if (f.days < date_min || f.days >= date_end)
        return mismatch;
    return {in_place_value, date{static_cast<std::int32_t>(f.days)}};
}

/// Microseconds since 2000-01-01 UTC, or type_mismatch outside the timestamp range.
[[nodiscard]] result<std::int64_t> micros_from_fields(const datetime_fields& f) noexcept {
    if (f.special != 0)
        return {in_place_value, f.special > 0 ? ts_pinf : ts_ninf};
    // Bound the days first so the products below cannot overflow.
    if (f.days < date_min - 1 || f.days > timestamp_end_days)
        return mismatch;
    const std::int64_t v = f.days * usecs_per_day + f.usecs - f.offset * usecs_per_second;
    if (v < timestamp_min || v >= timestamp_end)
        return mismatch;
    return {in_place_value, v};
}

// ---------------------------------------------------------------------------------
// Text output.

void append_padded(std::string& out, std::int64_t v, std::size_t width) {
    std::array<char, 24> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    const auto n = static_cast<std::size_t>(r.ptr - buf.data());
    if (n < width)
        out.append(width - n, '0');
    out.append(buf.data(), n);
}

/// YYYY-MM-DD; returns whether the year is BC (the caller appends " BC" last).
[[nodiscard]] bool append_date(std::string& out, std::int64_t days_since_2000) {
    const auto c = civil_from_days(days_since_2000 + unix_to_pg_days);
    const bool bc = c.year <= 0;
    append_padded(out, bc ? 1 - c.year : c.year, 4);
    out.push_back('-');
    append_padded(out, c.month, 2);
    out.push_back('-');
    append_padded(out, c.day, 2);
    return bc;
}

/// "YYYY-MM-DD HH:MM:SS[.ffffff]" with trailing fraction zeros trimmed, as AppendSeconds.
[[nodiscard]] bool append_timestamp(std::string& out, std::int64_t micros) {
    std::int64_t days = micros / usecs_per_day;
    std::int64_t rest = micros % usecs_per_day;
    if (rest < 0) {
        rest += usecs_per_day;
        --days;
    }
    const bool bc = append_date(out, days);
    const std::int64_t seconds = rest / usecs_per_second;
    std::int64_t fraction = rest % usecs_per_second;
    out.push_back(' ');
    append_padded(out, seconds / 3600, 2);
    out.push_back(':');
    append_padded(out, seconds / 60 % 60, 2);
    out.push_back(':');
    append_padded(out, seconds % 60, 2);
    if (fraction != 0) {
        std::size_t width = 6;
        while (fraction % 10 == 0) {
            fraction /= 10;
            --width;
        }
        out.push_back('.');
        append_padded(out, fraction, width);
    }
    return bc;
}

[[nodiscard]] bool accepts(std::int32_t type_oid, std::int32_t natural) noexcept {
    return type_oid == 0 || type_oid == natural;
}

[[nodiscard]] bool valid_timestamp(std::int64_t v) noexcept {
    return v == ts_ninf || v == ts_pinf || (v >= timestamp_min && v < timestamp_end);
}

[[nodiscard]] result<std::int64_t> timestamp_from_binary(std::string_view bytes) noexcept {
    if (bytes.size() != 8)
        return mismatch;
    const auto v = detail::wire::load_i64(bytes.data());
    if (!valid_timestamp(v)) // timestamp_recv's range check
        return mismatch;
    return {in_place_value, v};
}

[[nodiscard]] result<std::int64_t>
micros_from_sys_time(std::chrono::sys_time<std::chrono::microseconds> t) noexcept {
    const std::int64_t unix = t.time_since_epoch().count();
    if (unix < timestamp_min + unix_to_pg_usecs)
        return mismatch;
    const std::int64_t v = unix - unix_to_pg_usecs;
    if (v >= timestamp_end)
        return mismatch;
    return {in_place_value, v};
}

[[nodiscard]] result<std::chrono::sys_time<std::chrono::microseconds>>
sys_time_from_micros(std::int64_t v) noexcept {
    if (v == ts_ninf || v == ts_pinf || v > ts_pinf - unix_to_pg_usecs)
        return mismatch;
    return {in_place_value, std::chrono::sys_time<std::chrono::microseconds>{
                                std::chrono::microseconds{v + unix_to_pg_usecs}}};
}

} // namespace

// ---------------------------------------------------------------------------------
// date

result<date> date::from_sys_days(std::chrono::sys_days d) noexcept {
    const std::int64_t unix_days = d.time_since_epoch().count();
    if (unix_days < date_min + unix_to_pg_days || unix_days >= date_end + unix_to_pg_days)
        return mismatch;
    return {in_place_value, date{static_cast<std::int32_t>(unix_days - unix_to_pg_days)}};
}

result<std::chrono::sys_days> date::to_sys_days() const noexcept {
    if (is_infinite())
        return mismatch;
    return {in_place_value, std::chrono::sys_days{std::chrono::days{std::int64_t{days_since_2000} +
                                                                    unix_to_pg_days}}};
}

result<date> date::parse(std::string_view text) noexcept {
    datetime_fields f;
    if (!parse_datetime(text, shape::date, f))
        return mismatch;
    return date_from_fields(f);
}

std::string date::to_string() const {
    std::string out;
    value_traits<date>::to_text(*this, out);
    return out;
}

void value_traits<date>::to_text(const date& v, std::string& out) {
    if (v.days_since_2000 == date_pinf) {
        out.append("infinity");
    } else if (v.days_since_2000 == date_ninf) {
        out.append("-infinity");
    } else if (append_date(out, v.days_since_2000)) {
        out.append(" BC");
    }
}

void value_traits<date>::to_binary(const date& v, std::string& out) {
    detail::wire::put_i32(out, v.days_since_2000);
}

result<date> value_traits<date>::from_text(std::string_view text, std::int32_t type_oid) {
    if (!accepts(type_oid, oid))
        return mismatch;
    return date::parse(text);
}

result<date> value_traits<date>::from_binary(std::string_view bytes, std::int32_t type_oid) {
    if (!accepts(type_oid, oid) || bytes.size() != 4)
        return mismatch;
    const std::int32_t v = detail::wire::load_i32(bytes.data());
    if (v != date_pinf && v != date_ninf && (v < date_min || v >= date_end))
        return mismatch; // date_recv's range check
    return {in_place_value, date{v}};
}

// ---------------------------------------------------------------------------------
// timestamp

result<timestamp>
timestamp::from_sys_time(std::chrono::sys_time<std::chrono::microseconds> t) noexcept {
    const auto v = micros_from_sys_time(t);
    if (!v)
        return mismatch;
    return {in_place_value, timestamp{*v}};
}

result<std::chrono::sys_time<std::chrono::microseconds>> timestamp::to_sys_time() const noexcept {
    return sys_time_from_micros(micros_since_2000);
}

result<timestamp> timestamp::parse(std::string_view text) noexcept {
    datetime_fields f;
    if (!parse_datetime(text, shape::timestamp, f))
        return mismatch;
    const auto v = micros_from_fields(f);
    if (!v)
        return mismatch;
    return {in_place_value, timestamp{*v}};
}

std::string timestamp::to_string() const {
    std::string out;
    value_traits<timestamp>::to_text(*this, out);
    return out;
}

void value_traits<timestamp>::to_text(const timestamp& v, std::string& out) {
    if (v.micros_since_2000 == ts_pinf) {
        out.append("infinity");
    } else if (v.micros_since_2000 == ts_ninf) {
        out.append("-infinity");
    } else if (append_timestamp(out, v.micros_since_2000)) {
        out.append(" BC");
    }
}

void value_traits<timestamp>::to_binary(const timestamp& v, std::string& out) {
    detail::wire::put_i64(out, v.micros_since_2000);
}

result<timestamp> value_traits<timestamp>::from_text(std::string_view text, std::int32_t type_oid) {
    if (!accepts(type_oid, oid))
        return mismatch;
    return timestamp::parse(text);
}

result<timestamp> value_traits<timestamp>::from_binary(std::string_view bytes,
                                                       std::int32_t type_oid) {
    if (!accepts(type_oid, oid))
        return mismatch;
    const auto v = timestamp_from_binary(bytes);
    if (!v)
        return mismatch;
    return {in_place_value, timestamp{*v}};
}

// ---------------------------------------------------------------------------------
// timestamptz

result<timestamptz>
timestamptz::from_sys_time(std::chrono::sys_time<std::chrono::microseconds> t) noexcept {
    const auto v = micros_from_sys_time(t);
    if (!v)
        return mismatch;
    return {in_place_value, timestamptz{*v}};
}

result<std::chrono::sys_time<std::chrono::microseconds>> timestamptz::to_sys_time() const noexcept {
    return sys_time_from_micros(micros_since_2000_utc);
}

result<timestamptz> timestamptz::parse(std::string_view text) noexcept {
    datetime_fields f;
    if (!parse_datetime(text, shape::timestamptz, f))
        return mismatch;
    const auto v = micros_from_fields(f);
    if (!v)
        return mismatch;
    return {in_place_value, timestamptz{*v}};
}

std::string timestamptz::to_string() const {
    std::string out;
    value_traits<timestamptz>::to_text(*this, out);
    return out;
}

void value_traits<timestamptz>::to_text(const timestamptz& v, std::string& out) {
    if (v.micros_since_2000_utc == ts_pinf) {
        out.append("infinity");
    } else if (v.micros_since_2000_utc == ts_ninf) {
        out.append("-infinity");
    } else {
        const bool bc = append_timestamp(out, v.micros_since_2000_utc);
        out.append("+00");
        if (bc)
            out.append(" BC");
    }
}

void value_traits<timestamptz>::to_binary(const timestamptz& v, std::string& out) {
    detail::wire::put_i64(out, v.micros_since_2000_utc);
}

result<timestamptz> value_traits<timestamptz>::from_text(std::string_view text,
                                                         std::int32_t type_oid) {
    if (!accepts(type_oid, oid))
        return mismatch;
    return timestamptz::parse(text);
}

result<timestamptz> value_traits<timestamptz>::from_binary(std::string_view bytes,
                                                           std::int32_t type_oid) {
    if (!accepts(type_oid, oid))
        return mismatch;
    const auto v = timestamp_from_binary(bytes);
    if (!v)
        return mismatch;
    return {in_place_value, timestamptz{*v}};
}

} // namespace qail::client
