// QAIL's serde names of the AST enumerations, in both directions.
#include <qail/ast/ast.hpp>

#include <array>
#include <cstddef>

namespace qail::ast {
namespace {

// The names of enum E, indexed by enumerator value.
template <class E, std::size_t N>
struct name_table {
    std::array<std::string_view, N> names;
};

constexpr name_table<action_kind, 7> action_names{
    {"Get", "Cnt", "Set", "Add", "Del", "Upsert", "Export"}};
constexpr name_table<op, 29> op_names{
    {"Eq",           "Ne",        "Gt",           "Gte",         "Lt",        "Lte",
     "Like",         "NotLike",   "ILike",        "NotILike",    "Fuzzy",     "Regex",
     "RegexI",       "SimilarTo", "In",           "NotIn",       "Between",   "NotBetween",
     "IsNull",       "IsNotNull", "Contains",     "ContainedBy", "KeyExists", "KeyExistsAny",
     "KeyExistsAll", "JsonPath",  "JsonPathText", "Overlaps",    "TextSearch"}};
constexpr name_table<sort, 6> sort_names{
    {"Asc", "Desc", "AscNullsFirst", "AscNullsLast", "DescNullsFirst", "DescNullsLast"}};
constexpr name_table<logical_op, 2> logical_names{{"And", "Or"}};
constexpr name_table<join_kind, 5> join_names{{"Inner", "Left", "Right", "Full", "Cross"}};
constexpr name_table<aggregate_func, 11> aggregate_names{{"Count", "Sum", "Avg", "Min", "Max",
                                                          "ArrayAgg", "StringAgg", "JsonAgg",
                                                          "JsonbAgg", "BoolAnd", "BoolOr"}};
constexpr name_table<interval_unit, 7> unit_names{
    {"Second", "Minute", "Hour", "Day", "Week", "Month", "Year"}};
constexpr name_table<cage_kind, 6> cage_names{
    {"Filter", "Payload", "Sort", "Limit", "Offset", "Partition"}};

template <class E, std::size_t N>
std::string_view lookup(const name_table<E, N>& table, E v) noexcept {
    const auto i = static_cast<std::size_t>(v);
    return i < N ? table.names[i] : std::string_view{"?"};
}

template <class E, std::size_t N>
std::optional<E> from_name(const name_table<E, N>& table, std::string_view s) noexcept {
    for (std::size_t i = 0; i < N; ++i)
        if (table.names[i] == s)
            return static_cast<E>(i);
    return std::nullopt;
}

} // namespace

std::string_view name(action_kind v) noexcept {
    return lookup(action_names, v);
}
std::string_view name(op v) noexcept {
    return lookup(op_names, v);
}
std::string_view name(sort v) noexcept {
    return lookup(sort_names, v);
}
std::string_view name(logical_op v) noexcept {
    return lookup(logical_names, v);
}
std::string_view name(join_kind v) noexcept {
    return lookup(join_names, v);
}
std::string_view name(aggregate_func v) noexcept {
    return lookup(aggregate_names, v);
}
std::string_view name(interval_unit v) noexcept {
    return lookup(unit_names, v);
}
std::string_view name(cage_kind v) noexcept {
    return lookup(cage_names, v);
}

std::optional<action_kind> action_from_name(std::string_view s) noexcept {
    return from_name(action_names, s);
}
std::optional<op> op_from_name(std::string_view s) noexcept {
    return from_name(op_names, s);
}
std::optional<sort> sort_from_name(std::string_view s) noexcept {
    return from_name(sort_names, s);
}
std::optional<join_kind> join_kind_from_name(std::string_view s) noexcept {
    return from_name(join_names, s);
}
std::optional<aggregate_func> aggregate_from_name(std::string_view s) noexcept {
    return from_name(aggregate_names, s);
}
std::optional<interval_unit> interval_unit_from_name(std::string_view s) noexcept {
    return from_name(unit_names, s);
}

} // namespace qail::ast
