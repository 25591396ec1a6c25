// boost::json::value -> qail: QAIL's serde shape (externally tagged enums, every field
// present) and the same shape with default-valued fields left out. Trust checks happen
// here, so an untrusted document never becomes an AST holding raw SQL.
#include <qail/ast/compile.hpp>
#include <qail/ast/detail/path.hpp>
#include <qail/ast/json.hpp>

#include <algorithm>
#include <array>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qail::ast {
namespace {

namespace json = boost::json;
using detail::path;
using detail::quoted_token;

// QAIL names this driver knows but does not compile: refused as "unsupported" rather
// than "unknown", so a client learns the feature exists but is not available here.
constexpr std::array<std::string_view, 69> other_actions{"Gen",
                                                         "Make",
                                                         "Drop",
                                                         "Mod",
                                                         "Over",
                                                         "With",
                                                         "Index",
                                                         "DropIndex",
                                                         "Alter",
                                                         "AlterDrop",
                                                         "AlterType",
                                                         "TxnStart",
                                                         "TxnCommit",
                                                         "TxnRollback",
                                                         "Put",
                                                         "DropCol",
                                                         "RenameCol",
                                                         "JsonTable",
                                                         "Truncate",
                                                         "Explain",
                                                         "ExplainAnalyze",
                                                         "Lock",
                                                         "CreateMaterializedView",
                                                         "RefreshMaterializedView",
                                                         "DropMaterializedView",
                                                         "Listen",
                                                         "Notify",
                                                         "Unlisten",
                                                         "Savepoint",
                                                         "ReleaseSavepoint",
                                                         "RollbackToSavepoint",
                                                         "CreateView",
                                                         "DropView",
                                                         "Search",
                                                         "Scroll",
                                                         "CreateCollection",
                                                         "DeleteCollection",
                                                         "CreateFunction",
                                                         "DropFunction",
                                                         "CreateTrigger",
                                                         "DropTrigger",
                                                         "RedisGet",
                                                         "RedisSet",
                                                         "RedisDel",
                                                         "RedisIncr",
                                                         "RedisDecr",
                                                         "RedisTtl",
                                                         "RedisExpire",
                                                         "RedisExists",
                                                         "RedisMGet",
                                                         "RedisMSet",
                                                         "RedisPing",
                                                         "CreateExtension",
                                                         "DropExtension",
                                                         "CommentOn",
                                                         "CreateSequence",
                                                         "DropSequence",
                                                         "CreateEnum",
                                                         "DropEnum",
                                                         "AlterEnumAddValue",
                                                         "AlterSetNotNull",
                                                         "AlterDropNotNull",
                                                         "AlterSetDefault",
                                                         "AlterDropDefault",
                                                         "AlterEnableRls",
                                                         "AlterDisableRls",
                                                         "AlterForceRls",
                                                         "AlterNoForceRls",
                                                         "Merge"};
constexpr std::array<std::string_view, 6> other_ops{
    "Exists", "NotExists", "JsonExists", "JsonQuery", "JsonValue", "ArrayElemContainedInText"};
constexpr std::array<std::string_view, 14> other_exprs{"Def",
                                                       "Mod",
                                                       "Window",
                                                       "Case",
                                                       "SpecialFunction",
                                                       "Binary",
                                                       "ArrayConstructor",
                                                       "RowConstructor",
                                                       "Subscript",
                                                       "Collate",
                                                       "FieldAccess",
                                                       "Subquery",
                                                       "Exists",
                                                       "Raw"};
constexpr std::array<std::string_view, 4> other_values{"NamedParam", "Subquery", "Expr", "Vector"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& names, std::string_view s) {
    return std::find(names.begin(), names.end(), s) != names.end();
}

std::string_view kind_name(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::null:
        return "null";
    case json::kind::bool_:
        return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
        return "an integer";
    case json::kind::double_:
        return "a number";
    case json::kind::string:
        return "a string";
    case json::kind::array:
        return "an array";
    case json::kind::object:
        return "an object";
    }
    return "a value";
}

/// How a QAIL field this driver does not support must look to be accepted: its default.
enum class default_shape { null, empty_array, false_, simple };
struct unsupported_field {
    std::string_view key;
    default_shape shape;
    std::string_view feature;
};
constexpr std::array<unsupported_field, 28> unsupported_fields{{
    {"index_def", default_shape::null, "index definitions"},
    {"table_constraints", default_shape::empty_array, "table constraints"},
    {"set_ops", default_shape::empty_array, "set operations (UNION, ...)"},
    {"group_by_mode", default_shape::simple, "ROLLUP, CUBE and GROUPING SETS"},
    {"ctes", default_shape::empty_array, "CTEs (WITH)"},
    {"merge", default_shape::null, "MERGE"},
    {"source_query", default_shape::null, "INSERT ... SELECT"},
    {"channel", default_shape::null, "LISTEN/NOTIFY"},
    {"payload", default_shape::null, "NOTIFY payloads"},
    {"savepoint_name", default_shape::null, "savepoints"},
    {"from_tables", default_shape::empty_array, "UPDATE ... FROM"},
    {"using_tables", default_shape::empty_array, "DELETE ... USING"},
    {"lock_mode", default_shape::null, "row locking (FOR UPDATE, ...)"},
    {"skip_locked", default_shape::false_, "SKIP LOCKED"},
    {"fetch", default_shape::null, "FETCH FIRST"},
    {"overriding", default_shape::null, "OVERRIDING"},
    {"sample", default_shape::null, "TABLESAMPLE"},
    {"vector", default_shape::null, "vector search"},
    {"score_threshold", default_shape::null, "vector search"},
    {"vector_name", default_shape::null, "vector search"},
    {"with_vector", default_shape::false_, "vector search"},
    {"vector_size", default_shape::null, "vector collections"},
    {"distance", default_shape::null, "vector collections"},
    {"on_disk", default_shape::null, "vector collections"},
    {"function_def", default_shape::null, "function definitions"},
    {"trigger_def", default_shape::null, "trigger definitions"},
    {"policy_def", default_shape::null, "RLS policy definitions"},
    {"view_security_invoker", default_shape::false_, "views"},
}};

bool has_default_shape(const json::value& v, default_shape shape) {
    switch (shape) {
    case default_shape::null:
        return v.is_null();
    case default_shape::empty_array:
        return v.is_array() && v.get_array().empty();
    case default_shape::false_:
        return v.is_bool() && !v.get_bool();
    case default_shape::simple:
        return v.is_string() && v.get_string() == "Simple";
    }
    return false;
}

std::string_view shape_text(default_shape shape) {
    switch (shape) {
    case default_shape::null:
        return "null";
    case default_shape::empty_array:
        return "[]";
    case default_shape::false_:
        return "false";
    case default_shape::simple:
        return "\"Simple\"";
    }
    return "";
}

class reader {
public:
    explicit reader(const parse_options& options)
        : untrusted_(options.source == trust::untrusted) {}

    result<qail> run(const json::value& v) {
        qail q;
        if (!read_qail(v, q))
            return {boost::system::in_place_error, std::move(*err_)};
        return q;
    }

private:
    // --- errors ---
    bool fail(errc code, std::string detail) {
        err_ = path_.fail(code, std::move(detail));
        return false;
    }
    bool wrong_type(const json::value& v, std::string_view expected) {
        return fail(errc::wrong_type,
                    "expected " + std::string(expected) + ", got " + std::string(kind_name(v)));
    }

    // --- object walking ---

    /// Calls on_field(key, value) for every member of an object; refuses keys not in
    /// `known` and, afterwards, missing `required` keys.
    template <class F>
    bool fields(const json::value& v, std::string_view type,
                std::initializer_list<std::string_view> known,
                std::initializer_list<std::string_view> required, F&& on_field) {
        const auto* obj = v.if_object();
        if (!obj)
            return wrong_type(v, "an object (" + std::string(type) + ")");
        for (const auto& kv : *obj) {
            const std::string_view key(kv.key().data(), kv.key().size());
            path::step s(path_, key);
            if (std::find(known.begin(), known.end(), key) == known.end()) {
                std::string list;
                for (const auto k : known) {
                    if (!list.empty())
                        list += ", ";
                    list += k;
                }
                return fail(errc::unknown_field, "unknown field " + quoted_token(key) + " (" +
                                                     std::string(type) + " has " + list + ")");
            }
            if (!on_field(key, kv.value()))
                return false;
        }
        for (const auto r : required)
            if (!obj->contains(r))
                return fail(errc::missing_field,
                            "missing field " + quoted_token(r) + " of " + std::string(type));
        return true;
    }

    /// An externally tagged enum: "Tag" (unit variant) or {"Tag": payload}.
    bool variant_tag(const json::value& v, std::string_view what, std::string_view& tag,
                     const json::value*& payload) {
        if (const auto* s = v.if_string()) {
            tag = std::string_view(s->data(), s->size());
            payload = nullptr;
            return true;
        }
        const auto* obj = v.if_object();
        if (!obj || obj->size() != 1)
            return fail(obj ? errc::invalid_value : errc::wrong_type,
                        "expected " + std::string(what) +
                            " (a string, or an object with exactly one key), got " +
                            (obj ? "an object with " + std::to_string(obj->size()) + " keys"
                                 : std::string(kind_name(v))));
        const auto& kv = *obj->begin();
        tag = std::string_view(kv.key().data(), kv.key().size());
        payload = &kv.value();
        return true;
    }

    /// A unit variant accepts "Tag" and {"Tag": null}, as serde does.
    bool unit_variant(std::string_view tag, const json::value* payload) {
        if (payload && !payload->is_null()) {
            path::step s(path_, tag);
            return fail(errc::wrong_type, std::string(tag) + " takes no value");
        }
        return true;
    }

    bool needs_payload(std::string_view tag, const json::value* payload) {
        if (!payload)
            return fail(errc::wrong_type,
                        std::string(tag) + " needs a value ({" + quoted_token(tag) + ": ...})");
        return true;
    }

    // --- scalars ---
    bool read_string(const json::value& v, std::string& out) {
        const auto* s = v.if_string();
        if (!s)
            return wrong_type(v, "a string");
        out.assign(s->data(), s->size());
        return true;
    }
    bool read_opt_string(const json::value& v, std::optional<std::string>& out) {
        if (v.is_null()) {
            out.reset();
            return true;
        }
        std::string s;
        if (!read_string(v, s))
            return false;
        out = std::move(s);
        return true;
    }
    bool read_bool(const json::value& v, bool& out) {
        if (!v.is_bool())
            return wrong_type(v, "a boolean");
        out = v.get_bool();
        return true;
    }
    bool read_i64(const json::value& v, std::int64_t& out) {
        if (v.is_int64()) {
            out = v.get_int64();
            return true;
        }
        if (v.is_uint64())
            return fail(errc::invalid_value,
                        "integer " + std::to_string(v.get_uint64()) + " exceeds i64");
        return wrong_type(v, "an integer");
    }
    bool read_u64(const json::value& v, std::uint64_t& out) {
        if (v.is_uint64()) {
            out = v.get_uint64();
            return true;
        }
        if (v.is_int64()) {
            if (v.get_int64() < 0)
                return fail(errc::invalid_value, "expected a non-negative integer, got " +
                                                     std::to_string(v.get_int64()));
            out = static_cast<std::uint64_t>(v.get_int64());
            return true;
        }
        return wrong_type(v, "a non-negative integer");
    }
    bool read_f64(const json::value& v, double& out) {
        if (v.is_double())
            out = v.get_double();
        else if (v.is_int64())
            out = static_cast<double>(v.get_int64());
        else if (v.is_uint64())
            out = static_cast<double>(v.get_uint64());
        else
            return wrong_type(v, "a number");
        if (!std::isfinite(out))
            return fail(errc::invalid_value, "number out of range");
        return true;
    }

    template <class T, class F>
    bool read_array(const json::value& v, std::vector<T>& out, F&& read_one) {
        const auto* arr = v.if_array();
        if (!arr)
            return wrong_type(v, "an array");
        out.clear();
        out.reserve(arr->size());
        for (std::size_t i = 0; i < arr->size(); ++i) {
            path::step s(path_, i);
            T item{};
            if (!read_one((*arr)[i], item))
                return false;
            out.push_back(std::move(item));
        }
        return true;
    }

    bool read_string_list(const json::value& v, std::vector<std::string>& out) {
        return read_array(v, out,
                          [&](const json::value& e, std::string& s) { return read_string(e, s); });
    }

    // --- enums ---
    template <class E>
    bool read_enum(const json::value& v, std::string_view what,
                   std::optional<E> (*from)(std::string_view) noexcept, E& out) {
        const auto* s = v.if_string();
        if (!s)
            return wrong_type(v, "a " + std::string(what) + " name (a string)");
        const std::string_view name_text(s->data(), s->size());
        if (auto e = from(name_text)) {
            out = *e;
            return true;
        }
        return fail(errc::unknown_variant,
                    "unknown " + std::string(what) + " " + quoted_token(name_text));
    }

    bool read_op(const json::value& v, op& out) {
        if (const auto* s = v.if_string()) {
            const std::string_view t(s->data(), s->size());
            if (contains(other_ops, t))
                return fail(errc::unsupported, "unsupported operator " + quoted_token(t));
        }
        return read_enum(v, "operator", &op_from_name, out);
    }

    bool read_action(const json::value& v, action_kind& out) {
        const auto* s = v.if_string();
        if (!s)
            return wrong_type(v, "an action name (a string)");
        const std::string_view t(s->data(), s->size());
        const auto a = action_from_name(t);
        const bool known = a || contains(other_actions, t);
        if (untrusted_ && known && !(a && is_dml(*a)))
            return fail(errc::forbidden,
                        "action " + quoted_token(t) +
                            " is not allowed from untrusted clients (only Get, Cnt, Set, Add, "
                            "Del, Upsert)");
        if (a) {
            out = *a;
            return true;
        }
        if (known)
            return fail(errc::unsupported, "unsupported action " + quoted_token(t));
        return fail(errc::unknown_variant, "unknown action " + quoted_token(t));
    }

    // --- values ---
    bool read_value(const json::value& v, value& out) {
        std::string_view tag;
        const json::value* payload = nullptr;
        if (!variant_tag(v, "a Value", tag, payload))
            return false;
        if (tag == "Null" || tag == "NullUuid") {
            if (!unit_variant(tag, payload))
                return false;
            out = tag == "Null" ? value(null) : value(null_uuid);
            return true;
        }
        if (contains(other_values, tag))
            return fail(errc::unsupported, "unsupported value " + quoted_token(tag));
        if (tag == "Function" && untrusted_)
            return fail(errc::forbidden,
                        "Function (raw SQL) is not allowed from untrusted clients");
        static constexpr std::array<std::string_view, 13> tags{
            "Bool",  "Int",    "Float", "String",   "Uuid",  "Timestamp", "Json",
            "Array", "Column", "Param", "Function", "Bytes", "Interval"};
        if (!contains(tags, tag))
            return fail(errc::unknown_variant, "unknown value " + quoted_token(tag));
        if (!needs_payload(tag, payload))
            return false;
        path::step s(path_, tag);
        const json::value& p = *payload;
        if (tag == "Bool") {
            bool b = false;
            if (!read_bool(p, b))
                return false;
            out = b;
        } else if (tag == "Int") {
            std::int64_t i = 0;
            if (!read_i64(p, i))
                return false;
            out = i;
        } else if (tag == "Float") {
            double d = 0;
            if (!read_f64(p, d))
                return false;
            out = d;
        } else if (tag == "String") {
            std::string str;
            if (!read_string(p, str))
                return false;
            out = std::move(str);
        } else if (tag == "Uuid") {
            std::string str;
            if (!read_string(p, str))
                return false;
            auto u = pg::uuid::parse(str);
            if (!u)
                return fail(errc::invalid_value, "not a UUID: " + quoted_token(str));
            out = *u;
        } else if (tag == "Timestamp") {
            timestamp_text t;
            if (!read_string(p, t.text))
                return false;
            out = std::move(t);
        } else if (tag == "Json") {
            json_text j;
            if (!read_string(p, j.text))
                return false;
            out = std::move(j);
        } else if (tag == "Array") {
            value_list items;
            if (!read_array(p, items,
                            [&](const json::value& e, value& item) { return read_value(e, item); }))
                return false;
            out = std::move(items);
        } else if (tag == "Column") {
            column_ref c;
            if (!read_string(p, c.name))
                return false;
            out = std::move(c);
        } else if (tag == "Param") {
            param_ref r;
            if (!read_u64(p, r.index))
                return false;
            out = r;
        } else if (tag == "Function") {
            raw_sql r;
            if (!read_string(p, r.text))
                return false;
            out = std::move(r);
        } else if (tag == "Bytes") {
            std::vector<std::uint64_t> bytes;
            if (!read_array(p, bytes, [&](const json::value& e, std::uint64_t& b) {
                    if (!read_u64(e, b))
                        return false;
                    if (b > 255)
                        return fail(errc::invalid_value,
                                    "byte " + std::to_string(b) + " exceeds 255");
                    return true;
                }))
                return false;
            pg::bytea data;
            data.bytes.reserve(bytes.size());
            for (const auto b : bytes)
                data.bytes.push_back(static_cast<char>(static_cast<unsigned char>(b)));
            out = std::move(data);
        } else { // Interval
            interval i;
            if (!fields(p, "Interval", {"amount", "unit"}, {"amount", "unit"},
                        [&](std::string_view key, const json::value& f) {
                            if (key == "amount")
                                return read_i64(f, i.amount);
                            return read_enum(f, "interval unit", &interval_unit_from_name, i.unit);
                        }))
                return false;
            out = i;
        }
        return true;
    }

    // --- expressions ---
    bool read_expr(const json::value& v, expr& out) {
        std::string_view tag;
        const json::value* payload = nullptr;
        if (!variant_tag(v, "an Expr", tag, payload))
            return false;
        if (tag == "Star") {
            if (!unit_variant(tag, payload))
                return false;
            out = star{};
            return true;
        }
        if (untrusted_ && (tag == "FunctionCall" || tag == "Raw"))
            return fail(errc::forbidden, std::string(tag) +
                                             " (raw function calls or SQL) is not allowed "
                                             "from untrusted clients");
        if (contains(other_exprs, tag))
            return fail(errc::unsupported, "unsupported expression " + quoted_token(tag));
        static constexpr std::array<std::string_view, 7> tags{
            "Named", "Aliased", "Aggregate", "Cast", "Literal", "JsonAccess", "FunctionCall"};
        if (!contains(tags, tag))
            return fail(errc::unknown_variant, "unknown expression " + quoted_token(tag));
        if (!needs_payload(tag, payload))
            return false;
        path::step s(path_, tag);
        const json::value& p = *payload;
        if (tag == "Named") {
            named n;
            if (!read_string(p, n.name))
                return false;
            out = std::move(n);
        } else if (tag == "Aliased") {
            aliased a;
            if (!fields(p, "Aliased", {"name", "alias"}, {"name", "alias"},
                        [&](std::string_view key, const json::value& f) {
                            return read_string(f, key == "name" ? a.name : a.alias);
                        }))
                return false;
            out = std::move(a);
        } else if (tag == "Aggregate") {
            aggregate a;
            if (!fields(p, "Aggregate", {"col", "func", "distinct", "filter", "alias"},
                        {"col", "func"}, [&](std::string_view key, const json::value& f) {
                            if (key == "col")
                                return read_string(f, a.col);
                            if (key == "func")
                                return read_enum(f, "aggregate", &aggregate_from_name, a.func);
                            if (key == "distinct")
                                return read_bool(f, a.distinct);
                            if (key == "filter") {
                                if (f.is_null()) {
                                    a.filter.reset();
                                    return true;
                                }
                                a.filter.emplace();
                                return read_conditions(f, *a.filter);
                            }
                            return read_opt_string(f, a.alias);
                        }))
                return false;
            out = std::move(a);
        } else if (tag == "Cast") {
            cast c;
            if (!fields(p, "Cast", {"expr", "target_type", "alias"}, {"expr", "target_type"},
                        [&](std::string_view key, const json::value& f) {
                            if (key == "expr")
                                return read_expr(f, *c.inner);
                            if (key == "target_type")
                                return read_string(f, c.target_type);
                            return read_opt_string(f, c.alias);
                        }))
                return false;
            out = std::move(c);
        } else if (tag == "Literal") {
            literal l;
            if (!read_value(p, l.val))
                return false;
            out = std::move(l);
        } else if (tag == "JsonAccess") {
            json_access j;
            if (!fields(p, "JsonAccess", {"column", "path_segments", "alias"}, {"column"},
                        [&](std::string_view key, const json::value& f) {
                            if (key == "column")
                                return read_string(f, j.column);
                            if (key == "alias")
                                return read_opt_string(f, j.alias);
                            return read_array(f, j.path,
                                              [&](const json::value& e, json_access::segment& seg) {
                                                  const auto* pair = e.if_array();
                                                  if (!pair || pair->size() != 2)
                                                      return wrong_type(e, "a [key, as_text] pair");
                                                  {
                                                      path::step k(path_, std::size_t{0});
                                                      if (!read_string((*pair)[0], seg.key))
                                                          return false;
                                                  }
                                                  path::step t(path_, std::size_t{1});
                                                  return read_bool((*pair)[1], seg.as_text);
                                              });
                        }))
                return false;
            out = std::move(j);
        } else { // FunctionCall (trusted)
            function_call fc;
            if (!fields(p, "FunctionCall", {"name", "args", "alias"}, {"name"},
                        [&](std::string_view key, const json::value& f) {
                            if (key == "name")
                                return read_string(f, fc.name);
                            if (key == "alias")
                                return read_opt_string(f, fc.alias);
                            return read_array(f, fc.args, [&](const json::value& e, expr& a) {
                                return read_expr(e, a);
                            });
                        }))
                return false;
            out = std::move(fc);
        }
        return true;
    }

    bool read_exprs(const json::value& v, std::vector<expr>& out) {
        return read_array(v, out, [&](const json::value& e, expr& x) { return read_expr(e, x); });
    }

    // --- conditions and cages ---
    bool read_condition(const json::value& v, condition& out) {
        return fields(v, "Condition", {"left", "op", "value", "is_array_unnest"}, {"left"},
                      [&](std::string_view key, const json::value& f) {
                          if (key == "left")
                              return read_expr(f, out.left);
                          if (key == "op")
                              return read_op(f, out.op);
                          if (key == "value")
                              return read_value(f, out.val);
                          return read_bool(f, out.is_array_unnest);
                      });
    }

    bool read_conditions(const json::value& v, std::vector<condition>& out) {
        return read_array(v, out,
                          [&](const json::value& e, condition& c) { return read_condition(e, c); });
    }

    bool read_cage_kind(const json::value& v, cage& out) {
        std::string_view tag;
        const json::value* payload = nullptr;
        if (!variant_tag(v, "a cage kind", tag, payload))
            return false;
        if (tag == "Filter" || tag == "Payload" || tag == "Partition") {
            if (!unit_variant(tag, payload))
                return false;
            out.kind = tag == "Filter"    ? cage_kind::filter
                       : tag == "Payload" ? cage_kind::payload
                                          : cage_kind::partition;
            return true;
        }
        if (tag == "Sample" || tag == "Qualify")
            return fail(errc::unsupported, "unsupported cage kind " + quoted_token(tag));
        if (tag != "Sort" && tag != "Limit" && tag != "Offset")
            return fail(errc::unknown_variant, "unknown cage kind " + quoted_token(tag));
        if (!needs_payload(tag, payload))
            return false;
        path::step s(path_, tag);
        if (tag == "Sort") {
            out.kind = cage_kind::sort;
            return read_enum(*payload, "sort order", &sort_from_name, out.order);
        }
        out.kind = tag == "Limit" ? cage_kind::limit : cage_kind::offset;
        return read_u64(*payload, out.count);
    }

    bool read_cage(const json::value& v, cage& out) {
        return fields(v, "Cage", {"kind", "conditions", "logical_op"}, {"kind"},
                      [&](std::string_view key, const json::value& f) {
                          if (key == "kind")
                              return read_cage_kind(f, out);
                          if (key == "conditions")
                              return read_conditions(f, out.conditions);
                          const auto* s = f.if_string();
                          if (s && *s == "And")
                              out.logical_op = logical_op::and_;
                          else if (s && *s == "Or")
                              out.logical_op = logical_op::or_;
                          else if (s)
                              return fail(errc::unknown_variant,
                                          "unknown logical operator " +
                                              quoted_token(std::string_view(s->data(), s->size())));
                          else
                              return wrong_type(f, "\"And\" or \"Or\"");
                          return true;
                      });
    }

    bool read_join(const json::value& v, join& out) {
        return fields(v, "Join", {"table", "kind", "on", "on_true"}, {"table", "kind"},
                      [&](std::string_view key, const json::value& f) {
                          if (key == "table")
                              return read_string(f, out.table);
                          if (key == "kind") {
                              if (f.is_string() && f.get_string() == "Lateral")
                                  return fail(errc::unsupported,
                                              "unsupported join kind \"Lateral\"");
                              return read_enum(f, "join kind", &join_kind_from_name, out.kind);
                          }
                          if (key == "on_true")
                              return read_bool(f, out.on_true);
                          if (f.is_null()) {
                              out.on.reset();
                              return true;
                          }
                          out.on.emplace();
                          return read_conditions(f, *out.on);
                      });
    }

    bool read_on_conflict(const json::value& v, on_conflict& out) {
        return fields(v, "OnConflict", {"columns", "constraint", "action", "where_conditions"}, {},
                      [&](std::string_view key, const json::value& f) {
                          if (key == "columns")
                              return read_string_list(f, out.columns);
                          if (key == "constraint")
                              return read_opt_string(f, out.constraint);
                          if (key == "where_conditions")
                              return read_conditions(f, out.where);
                          std::string_view tag;
                          const json::value* payload = nullptr;
                          if (!variant_tag(f, "a conflict action", tag, payload))
                              return false;
                          if (tag == "DoNothing") {
                              out.action = do_nothing{};
                              return unit_variant(tag, payload);
                          }
                          if (tag != "DoUpdate")
                              return fail(errc::unknown_variant,
                                          "unknown conflict action " + quoted_token(tag));
                          if (!needs_payload(tag, payload))
                              return false;
                          path::step s(path_, tag);
                          do_update u;
                          if (!fields(*payload, "DoUpdate", {"assignments"}, {"assignments"},
                                      [&](std::string_view, const json::value& a) {
                                          return read_array(
                                              a, u.assignments,
                                              [&](const json::value& e, assignment& asg) {
                                                  const auto* pair = e.if_array();
                                                  if (!pair || pair->size() != 2)
                                                      return wrong_type(e, "a [column, Expr] pair");
                                                  {
                                                      path::step c(path_, std::size_t{0});
                                                      if (!read_string((*pair)[0], asg.column))
                                                          return false;
                                                  }
                                                  path::step x(path_, std::size_t{1});
                                                  return read_expr((*pair)[1], asg.val);
                                              });
                                      }))
                              return false;
                          out.action = std::move(u);
                          return true;
                      });
    }

    // --- the statement ---
    bool read_qail(const json::value& v, qail& q) {
        const auto* obj = v.if_object();
        if (!obj)
            return wrong_type(v, "an object (Qail)");
        for (const auto& kv : *obj) {
            const std::string_view key(kv.key().data(), kv.key().size());
            path::step s(path_, key);
            const json::value& f = kv.value();
            bool ok = true;
            if (key == "action") {
                ok = read_action(f, q.action);
            } else if (key == "table") {
                ok = read_string(f, q.table);
            } else if (key == "columns") {
                ok = read_exprs(f, q.columns);
            } else if (key == "joins") {
                ok = read_array(f, q.joins,
                                [&](const json::value& e, join& j) { return read_join(e, j); });
            } else if (key == "cages") {
                ok = read_array(f, q.cages,
                                [&](const json::value& e, cage& c) { return read_cage(e, c); });
            } else if (key == "distinct") {
                ok = read_bool(f, q.distinct);
            } else if (key == "having") {
                ok = read_conditions(f, q.having);
            } else if (key == "distinct_on") {
                ok = read_exprs(f, q.distinct_on);
            } else if (key == "returning") {
                if (f.is_null()) {
                    q.returning.reset();
                } else {
                    q.returning.emplace();
                    ok = read_exprs(f, *q.returning);
                }
            } else if (key == "on_conflict") {
                if (f.is_null()) {
                    q.conflict.reset();
                } else {
                    q.conflict.emplace();
                    ok = read_on_conflict(f, *q.conflict);
                }
            } else if (key == "default_values") {
                ok = read_bool(f, q.default_values);
            } else if (key == "only_table") {
                ok = read_bool(f, q.only_table);
            } else {
                const auto it =
                    std::find_if(unsupported_fields.begin(), unsupported_fields.end(),
                                 [&](const unsupported_field& u) { return u.key == key; });
                if (it == unsupported_fields.end()) {
                    return fail(errc::unknown_field,
                                "unknown field " + quoted_token(key) + " of Qail");
                }
                if (!has_default_shape(f, it->shape))
                    return fail(errc::unsupported,
                                std::string(it->feature) + " not supported (only " +
                                    std::string(shape_text(it->shape)) + " is accepted)");
            }
            if (!ok)
                return false;
        }
        if (!obj->contains("table"))
            return fail(errc::missing_field, "missing field \"table\" of Qail");
        return true;
    }

    bool untrusted_;
    path path_;
    std::optional<error> err_;
};

} // namespace

result<qail> read_qail(const boost::json::value& v, const parse_options& options) {
    return reader(options).run(v);
}

result<qail> parse_json(std::string_view text, const parse_options& options) {
    auto v = parse_json_value(text, options.limits);
    if (!v)
        return {boost::system::in_place_error, std::move(v.error())};
    return read_qail(*v, options);
}

result<qail> load_ast_file(const std::string& file, const parse_options& options) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return {boost::system::in_place_error,
                error{errc::io_error, {}, "cannot open " + quoted_token(file, 256)}};
    std::string text;
    // Read at most one byte past the limit: enough to refuse an oversized file.
    const std::size_t cap = options.limits.max_body_bytes + 1;
    text.resize(cap);
    in.read(text.data(), static_cast<std::streamsize>(cap));
    if (in.bad())
        return {boost::system::in_place_error,
                error{errc::io_error, {}, "cannot read " + quoted_token(file, 256)}};
    text.resize(static_cast<std::size_t>(in.gcount()));
    return parse_json(text, options);
}

} // namespace qail::ast
