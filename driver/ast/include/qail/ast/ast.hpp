// The QAIL AST: the subset of qail-core's Qail, Expr, Value, Condition, Cage, Join and
// OnConflict that this driver compiles (see reference/QAIL.md for QAIL's own types).
#pragma once

#include <qail/client/types.hpp>

#include <concepts>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace qail::ast {

namespace pg = ::qail::client;

// ---------------------------------------------------------------------------------
// Enumerations. Each enumerator maps to the serde name QAIL writes (name() below).

/// What the statement does. Get = SELECT, Cnt = SELECT count(*), Set = UPDATE,
/// Add = INSERT, Del = DELETE, Upsert = INSERT ... ON CONFLICT, Export = COPY (...) TO STDOUT.
enum class action_kind { get, cnt, set, add, del, upsert, export_ };

/// Condition operators (QAIL's Operator).
enum class op {
    eq,
    ne,
    gt,
    gte,
    lt,
    lte,
    like,
    not_like,
    ilike,
    not_ilike,
    fuzzy,   ///< ILIKE '%v%'
    regex,   ///< ~
    regex_i, ///< ~*
    similar_to,
    in,
    not_in,
    between,
    not_between,
    is_null,
    is_not_null,
    contains,       ///< @>
    contained_by,   ///< <@
    key_exists,     ///< ?
    key_exists_any, ///< ?|
    key_exists_all, ///< ?&
    json_path,      ///< #>
    json_path_text, ///< #>>
    overlaps,       ///< &&
    text_search,    ///< to_tsvector('english', left) @@ websearch_to_tsquery('english', v)
};

/// ORDER BY direction (QAIL's SortOrder).
enum class sort { asc, desc, asc_nulls_first, asc_nulls_last, desc_nulls_first, desc_nulls_last };

/// How the conditions of one cage combine.
enum class logical_op { and_, or_ };

enum class join_kind { inner, left, right, full, cross };

enum class aggregate_func {
    count,
    sum,
    avg,
    min,
    max,
    array_agg,
    string_agg,
    json_agg,
    jsonb_agg,
    bool_and,
    bool_or,
};

/// Unit of an interval value (QAIL's IntervalUnit).
enum class interval_unit { second, minute, hour, day, week, month, year };

/// What a cage holds: WHERE conditions, INSERT/UPDATE values, ORDER BY, LIMIT, OFFSET,
/// or GROUP BY (QAIL calls it Partition).
enum class cage_kind { filter, payload, sort, limit, offset, partition };

/// QAIL's serde name of an enumerator ("Get", "NotILike", "AscNullsFirst", ...).
[[nodiscard]] std::string_view name(action_kind v) noexcept;
[[nodiscard]] std::string_view name(op v) noexcept;
[[nodiscard]] std::string_view name(sort v) noexcept;
[[nodiscard]] std::string_view name(logical_op v) noexcept;
[[nodiscard]] std::string_view name(join_kind v) noexcept;
[[nodiscard]] std::string_view name(aggregate_func v) noexcept;
[[nodiscard]] std::string_view name(interval_unit v) noexcept;
[[nodiscard]] std::string_view name(cage_kind v) noexcept;

/// The enumerator QAIL calls `serde_name`; nullopt for a name it does not have here.
[[nodiscard]] std::optional<action_kind> action_from_name(std::string_view serde_name) noexcept;
[[nodiscard]] std::optional<op> op_from_name(std::string_view serde_name) noexcept;
[[nodiscard]] std::optional<sort> sort_from_name(std::string_view serde_name) noexcept;
[[nodiscard]] std::optional<join_kind> join_kind_from_name(std::string_view serde_name) noexcept;
[[nodiscard]] std::optional<aggregate_func>
aggregate_from_name(std::string_view serde_name) noexcept;
[[nodiscard]] std::optional<interval_unit>
interval_unit_from_name(std::string_view serde_name) noexcept;

namespace detail {
/// A heap-allocated T with value semantics (copying copies the T), for the recursive
/// nodes (a Cast holds the expression it casts).
template <class T>
class box {
public:
    box() : p_(std::make_unique<T>()) {}
    box(T v) : p_(std::make_unique<T>(std::move(v))) {} // NOLINT(google-explicit-constructor)
    box(const box& o) : p_(std::make_unique<T>(*o.p_)) {}
    box(box&& o) noexcept : p_(std::make_unique<T>()) { p_.swap(o.p_); }
    box& operator=(const box& o) {
        if (this != &o)
            *p_ = *o.p_;
        return *this;
    }
    box& operator=(box&& o) noexcept {
        p_.swap(o.p_);
        return *this;
    }
    ~box() = default;

    [[nodiscard]] T& operator*() noexcept { return *p_; }
    [[nodiscard]] const T& operator*() const noexcept { return *p_; }
    [[nodiscard]] T* operator->() noexcept { return p_.get(); }
    [[nodiscard]] const T* operator->() const noexcept { return p_.get(); }
    bool operator==(const box& o) const { return *p_ == *o.p_; }

private:
    std::unique_ptr<T> p_;
};
} // namespace detail

// ---------------------------------------------------------------------------------
// Values (QAIL's Value). Every literal compiles to a bind parameter.

/// SQL NULL.
struct null_t {
    bool operator==(const null_t&) const = default;
};
inline constexpr null_t null{};

/// A NULL meant as a uuid (QAIL's NullUuid): bound as a NULL of type uuid.
struct null_uuid_t {
    bool operator==(const null_uuid_t&) const = default;
};
inline constexpr null_uuid_t null_uuid{};

/// A timestamp literal in any form PostgreSQL reads; the column decides its type.
struct timestamp_text {
    std::string text;
    bool operator==(const timestamp_text&) const = default;
};

/// A JSON document, bound as jsonb.
struct json_text {
    std::string text;
    bool operator==(const json_text&) const = default;
};

/// A column reference on the value side (`users.org_id = orgs.id`): an identifier, not
/// a parameter. Also converts to a named expression.
struct column_ref {
    std::string name;
    bool operator==(const column_ref&) const = default;
};

/// A caller-supplied parameter ($n, 1-based), resolved from compile_options::bind.
struct param_ref {
    std::uint64_t index = 0;
    bool operator==(const param_ref&) const = default;
};

/// Raw SQL text (QAIL's Value::Function, e.g. "now()"), inserted verbatim. Only trusted
/// code may build it; JSON from untrusted clients never yields it.
struct raw_sql {
    std::string text;
    bool operator==(const raw_sql&) const = default;
};

/// An interval such as 7 days, bound as interval.
struct interval {
    std::int64_t amount = 0;
    interval_unit unit = interval_unit::second;
    bool operator==(const interval&) const = default;
};

class value;
using value_list = std::vector<value>;

/// One QAIL value. The alternatives follow QAIL's Value variants: Null, Bool, Int, Float,
/// String, Uuid, NullUuid, Timestamp, Json, Array, Column, Param, Function, Bytes, Interval.
class value {
public:
    using variant_type = std::variant<null_t, bool, std::int64_t, double, std::string, pg::uuid,
                                      null_uuid_t, timestamp_text, json_text, value_list,
                                      column_ref, param_ref, raw_sql, pg::bytea, interval>;

    value() = default;
    value(null_t) {}         // NOLINT(google-explicit-constructor)
    value(std::nullptr_t) {} // NOLINT(google-explicit-constructor)
    value(std::nullopt_t) {} // NOLINT(google-explicit-constructor)
    value(bool b) : v_(b) {} // NOLINT(google-explicit-constructor)
    template <std::integral T>
    requires(!std::same_as<T, bool>) value(T i)
        : v_(to_int64(i)) {} // NOLINT(google-explicit-constructor)
    template <std::floating_point T>
    value(T d) : v_(static_cast<double>(d)) {}        // NOLINT
    value(const char* s) : v_(std::string(s)) {}      // NOLINT
    value(std::string s) : v_(std::move(s)) {}        // NOLINT
    value(std::string_view s) : v_(std::string(s)) {} // NOLINT
    value(pg::uuid u) : v_(u) {}                      // NOLINT
    value(null_uuid_t u) : v_(u) {}                   // NOLINT
    value(timestamp_text t) : v_(std::move(t)) {}     // NOLINT
    value(json_text j) : v_(std::move(j)) {}          // NOLINT
    value(value_list a) : v_(std::move(a)) {}         // NOLINT
    value(column_ref c) : v_(std::move(c)) {}         // NOLINT
    value(param_ref p) : v_(p) {}                     // NOLINT
    value(raw_sql r) : v_(std::move(r)) {}            // NOLINT
    value(pg::bytea b) : v_(std::move(b)) {}          // NOLINT
    value(interval i) : v_(i) {}                      // NOLINT
    /// A vector of anything convertible to value is an Array.
    template <class T>
    requires std::constructible_from<value, const T&> value(const std::vector<T>& items)
        : v_(value_list(items.begin(), items.end())) {} // NOLINT
    /// nullopt is NULL; otherwise the contained value.
    template <class T>
    requires std::constructible_from<value, const T&> value(const std::optional<T>& o)
        : value(o ? value(*o) : value()) {} // NOLINT

    [[nodiscard]] const variant_type& get() const noexcept { return v_; }
    [[nodiscard]] variant_type& get() noexcept { return v_; }
    template <class T>
    [[nodiscard]] bool is() const noexcept {
        return std::holds_alternative<T>(v_);
    }
    template <class T>
    [[nodiscard]] const T* as() const noexcept {
        return std::get_if<T>(&v_);
    }
    /// True for Null and NullUuid (both compile `= v` to IS NULL).
    [[nodiscard]] bool is_null() const noexcept { return is<null_t>() || is<null_uuid_t>(); }

    bool operator==(const value& o) const { return v_ == o.v_; }

private:
    template <class T>
    static std::int64_t to_int64(T i) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            if (i > static_cast<T>(std::numeric_limits<std::int64_t>::max()))
                throw std::out_of_range("qail::ast::value: integer exceeds int64");
        }
        return static_cast<std::int64_t>(i);
    }

    variant_type v_;
};

// ---------------------------------------------------------------------------------
// Expressions (QAIL's Expr): select-list items, condition left sides, RETURNING items.

struct condition;
class expr;

/// `*`.
struct star {
    bool operator==(const star&) const = default;
};

/// A column or other name, dotted for qualification: "users.email", "public.users.id".
/// Each part is quoted; a last part "*" stays a star ("users.*").
struct named {
    std::string name;
    bool operator==(const named&) const = default;
};

/// `name AS alias`.
struct aliased {
    std::string name;
    std::string alias;
    bool operator==(const aliased&) const = default;
};

/// An aggregate call: func([DISTINCT] col) [FILTER (WHERE ...)] [AS alias]. col "*" is
/// only meaningful for count.
struct aggregate {
    std::string col;
    aggregate_func func = aggregate_func::count;
    bool distinct = false;
    std::optional<std::vector<condition>> filter;
    std::optional<std::string> alias;
    bool operator==(const aggregate&) const;
};

/// CAST(inner AS target_type) [AS alias]. The type name must be a plain SQL type name
/// ("text", "numeric(10,2)", "timestamp with time zone", "int4[]", "public.mood").
struct cast {
    detail::box<expr> inner;
    std::string target_type;
    std::optional<std::string> alias;
    bool operator==(const cast&) const;
};

/// A literal value in expression position (QAIL's Expr::Literal): a bind parameter.
struct literal {
    value val;
    bool operator==(const literal&) const = default;
};

/// column->'a'->0->>'b' (QAIL's Expr::JsonAccess): each segment is (key, as_text); an
/// integer key indexes an array. Keys are bind parameters.
struct json_access {
    struct segment {
        std::string key;
        bool as_text = false;
        bool operator==(const segment&) const = default;
    };
    std::string column;
    std::vector<segment> path;
    std::optional<std::string> alias;
    bool operator==(const json_access&) const = default;
};

/// name(args...) [AS alias] (QAIL's Expr::FunctionCall). The name is emitted as written,
/// so it must be a plain, optionally schema-qualified, identifier. Trusted code only.
struct function_call {
    std::string name;
    std::vector<expr> args;
    std::optional<std::string> alias;
    bool operator==(const function_call&) const;
};

class expr {
public:
    using variant_type =
        std::variant<star, named, aliased, aggregate, cast, literal, json_access, function_call>;

    expr() = default;
    expr(star s) : v_(s) {}                         // NOLINT(google-explicit-constructor)
    expr(named n) : v_(std::move(n)) {}             // NOLINT
    expr(aliased a) : v_(std::move(a)) {}           // NOLINT
    expr(aggregate a) : v_(std::move(a)) {}         // NOLINT
    expr(cast c) : v_(std::move(c)) {}              // NOLINT
    expr(literal l) : v_(std::move(l)) {}           // NOLINT
    expr(json_access j) : v_(std::move(j)) {}       // NOLINT
    expr(function_call f) : v_(std::move(f)) {}     // NOLINT
    expr(const char* column) : v_(named{column}) {} // NOLINT
    expr(std::string column) : v_(named{std::move(column)}) {}        // NOLINT
    expr(std::string_view column) : v_(named{std::string(column)}) {} // NOLINT
    expr(column_ref c) : v_(named{std::move(c.name)}) {}              // NOLINT

    [[nodiscard]] const variant_type& get() const noexcept { return v_; }
    [[nodiscard]] variant_type& get() noexcept { return v_; }
    template <class T>
    [[nodiscard]] bool is() const noexcept {
        return std::holds_alternative<T>(v_);
    }
    template <class T>
    [[nodiscard]] const T* as() const noexcept {
        return std::get_if<T>(&v_);
    }
    bool operator==(const expr& o) const { return v_ == o.v_; }

private:
    variant_type v_{star{}};
};

// ---------------------------------------------------------------------------------
// Conditions, cages, joins, ON CONFLICT and the statement.

/// `left op value`. For Sort and Partition cages only `left` matters. is_array_unnest
/// compares each element of the array `left`: EXISTS (SELECT 1 FROM unnest(left) _el
/// WHERE _el op value).
struct condition {
    expr left;
    ast::op op = ast::op::eq;
    value val;
    bool is_array_unnest = false;
    bool operator==(const condition&) const = default;
};

/// One constraint block of the statement (QAIL's Cage).
struct cage {
    cage_kind kind = cage_kind::filter;
    /// The direction of a Sort cage.
    sort order = sort::asc;
    /// The count of a Limit or Offset cage.
    std::uint64_t count = 0;
    std::vector<condition> conditions;
    ast::logical_op logical_op = ast::logical_op::and_;
    bool operator==(const cage&) const = default;
};

struct join {
    /// The joined table, dotted for a schema ("billing.orgs").
    std::string table;
    join_kind kind = join_kind::inner;
    /// ON conditions, combined with AND; nullopt or empty with on_true for ON TRUE.
    std::optional<std::vector<condition>> on;
    bool on_true = false;
    bool operator==(const join&) const = default;
};

/// `column = value` of ON CONFLICT ... DO UPDATE SET. A named value "EXCLUDED.col" (any
/// case) refers to the row proposed for insertion.
struct assignment {
    std::string column;
    expr val;
    bool operator==(const assignment&) const = default;
};

struct do_nothing {
    bool operator==(const do_nothing&) const = default;
};
struct do_update {
    std::vector<assignment> assignments;
    bool operator==(const do_update&) const = default;
};

/// ON CONFLICT [(columns) | ON CONSTRAINT name] DO NOTHING | DO UPDATE SET ... [WHERE ...].
struct on_conflict {
    std::vector<std::string> columns;
    std::optional<std::string> constraint;
    std::variant<do_nothing, do_update> action{do_nothing{}};
    /// DO UPDATE ... WHERE conditions over the existing row (combined with AND).
    std::vector<condition> where;
    bool operator==(const on_conflict&) const = default;
};

/// One QAIL statement (QAIL's Qail, supported fields). Build it with the functions of
/// builder.hpp, read it with json.hpp, compile it with compile.hpp.
struct qail {
    action_kind action = action_kind::get;
    /// The target table, dotted for a schema ("public.users").
    std::string table;
    /// SELECT list (Get, Export), or INSERT columns for the positional payload form.
    std::vector<expr> columns;
    std::vector<join> joins;
    std::vector<cage> cages;
    bool distinct = false;
    std::vector<expr> distinct_on;
    std::vector<condition> having;
    std::optional<std::vector<expr>> returning;
    std::optional<ast::on_conflict> conflict;
    /// INSERT ... DEFAULT VALUES.
    bool default_values = false;
    /// FROM ONLY table (no inheritance children).
    bool only_table = false;
    bool operator==(const qail&) const = default;
};

inline bool aggregate::operator==(const aggregate& o) const {
    return col == o.col && func == o.func && distinct == o.distinct && filter == o.filter &&
           alias == o.alias;
}
inline bool cast::operator==(const cast& o) const {
    return inner == o.inner && target_type == o.target_type && alias == o.alias;
}
inline bool function_call::operator==(const function_call& o) const {
    return name == o.name && args == o.args && alias == o.alias;
}

} // namespace qail::ast
