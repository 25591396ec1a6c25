// JSON text -> boost::json::value under json_limits, checked token by token while the
// parser runs (a SAX handler in front of Boost.JSON's value_stack), so an oversized or
// hostile document is refused before the tree is built. Duplicate keys are refused too.
#include <qail/ast/detail/path.hpp>
#include <qail/ast/json.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace qail::ast {
namespace {

namespace json = boost::json;

class limited_handler {
public:
    static constexpr std::size_t max_object_size = json::object::max_size();
    static constexpr std::size_t max_array_size = json::array::max_size();
    static constexpr std::size_t max_key_size = json::string::max_size();
    static constexpr std::size_t max_string_size = json::string::max_size();

    explicit limited_handler(const json_limits& limits) : limits_(limits) {}

    json::value_stack st;

    [[nodiscard]] const std::optional<error>& failure() const noexcept { return failure_; }

    /// Where the parser is: object keys and array indexes down to the current value
    /// (down to the innermost array itself when `element` is false).
    [[nodiscard]] std::string where(bool element = true) const {
        std::string out;
        for (std::size_t i = 0; i < frames_.size(); ++i) {
            const auto& f = frames_[i];
            if (!element && i + 1 == frames_.size() && !f.is_object)
                break;
            if (f.is_object) {
                if (f.has_key) {
                    if (!out.empty())
                        out += '.';
                    out += f.key;
                }
            } else if (f.count > 0) {
                out += '[';
                out += std::to_string(f.count - 1);
                out += ']';
            }
        }
        return out;
    }

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }

    bool on_object_begin(json::error_code& ec) {
        if (!begin_value(ec) || !push_frame(true, ec))
            return false;
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code&) {
        frames_.pop_back();
        st.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code& ec) { return begin_value(ec) && push_frame(false, ec); }
    bool on_array_end(std::size_t n, json::error_code&) {
        frames_.pop_back();
        st.push_array(n);
        return true;
    }

    bool on_key_part(json::string_view s, std::size_t n, json::error_code& ec) {
        frames_.back().has_key = false; // errors in a key are errors of its object
        if (!key_fits(n, ec))
            return false;
        key_buf_.append(s.data(), s.size());
        st.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t n, json::error_code& ec) {
        frames_.back().has_key = false;
        if (!key_fits(n, ec))
            return false;
        key_buf_.append(s.data(), s.size());
        auto& f = frames_.back();
        f.key = std::move(key_buf_);
        key_buf_.clear();
        f.has_key = true;
        if (!f.keys.insert(f.key).second)
            return fail(ec, errc::duplicate_field,
                        "duplicate field " + detail::quoted_token(f.key));
        st.push_key(s);
        return true;
    }

    bool on_string_part(json::string_view s, std::size_t n, json::error_code& ec) {
        if (!in_string_) {
            if (!begin_value(ec))
                return false;
            in_string_ = true;
        }
        if (!string_fits(n, ec))
            return false;
        st.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t n, json::error_code& ec) {
        if (!in_string_ && !begin_value(ec))
            return false;
        in_string_ = false;
        if (!string_fits(n, ec))
            return false;
        st.push_string(s);
        return true;
    }

    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, json::error_code& ec) {
        if (!begin_value(ec))
            return false;
        st.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code& ec) {
        if (!begin_value(ec))
            return false;
        st.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view, json::error_code& ec) {
        if (!begin_value(ec))
            return false;
        st.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code& ec) {
        if (!begin_value(ec))
            return false;
        st.push_bool(b);
        return true;
    }
    bool on_null(json::error_code& ec) {
        if (!begin_value(ec))
            return false;
        st.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

private:
    struct frame {
        bool is_object = false;
        std::size_t count = 0; // array elements begun so far
        bool has_key = false;
        std::string key;
        std::unordered_set<std::string> keys;
    };

    bool fail(json::error_code& ec, errc code, std::string detail, bool element = true) {
        failure_ = error{code, where(element), std::move(detail)};
        ec = make_error_code(code);
        return false;
    }

    /// Counts a value that begins here, and the array element it may be.
    bool begin_value(json::error_code& ec) {
        if (!frames_.empty() && !frames_.back().is_object) {
            auto& f = frames_.back();
            if (f.count >= limits_.max_array_items)
                return fail(ec, errc::limit_exceeded,
                            "array longer than " + std::to_string(limits_.max_array_items) +
                                " elements",
                            false);
            ++f.count;
        }
        if (++nodes_ > limits_.max_nodes)
            return fail(ec, errc::limit_exceeded,
                        "more than " + std::to_string(limits_.max_nodes) + " JSON values");
        return true;
    }

    bool push_frame(bool is_object, json::error_code& ec) {
        if (frames_.size() >= limits_.max_depth)
            return fail(ec, errc::limit_exceeded,
                        "nesting deeper than " + std::to_string(limits_.max_depth));
        frames_.push_back(frame{is_object, 0, false, {}, {}});
        return true;
    }

    bool key_fits(std::size_t n, json::error_code& ec) {
        if (n > limits_.max_string_bytes)
            return fail(ec, errc::limit_exceeded,
                        "key longer than " + std::to_string(limits_.max_string_bytes) + " bytes");
        return true;
    }

    bool string_fits(std::size_t n, json::error_code& ec) {
        if (n > limits_.max_string_bytes)
            return fail(ec, errc::limit_exceeded,
                        "string longer than " + std::to_string(limits_.max_string_bytes) +
                            " bytes");
        return true;
    }

    const json_limits& limits_;
    std::vector<frame> frames_;
    std::size_t nodes_ = 0;
    bool in_string_ = false;
    std::string key_buf_;
    std::optional<error> failure_;
};

bool is_json_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

} // namespace

result<boost::json::value> parse_json_value(std::string_view text, const json_limits& limits) {
    using out = result<boost::json::value>;
    if (text.size() > limits.max_body_bytes)
        return out(boost::system::in_place_error,
                   error{errc::limit_exceeded,
                         {},
                         "body of " + std::to_string(text.size()) + " bytes exceeds " +
                             std::to_string(limits.max_body_bytes)});
    json::parse_options popts;
    // Ours fires first and names the path; Boost's own check is only a backstop.
    popts.max_depth = limits.max_depth + 1;
    json::basic_parser<limited_handler> p(popts, limits);
    p.handler().st.reset();
    json::error_code ec;
    const std::size_t n = p.write_some(false, text.data(), text.size(), ec);
    if (ec) {
        if (const auto& f = p.handler().failure())
            return out(boost::system::in_place_error, *f);
        return out(boost::system::in_place_error,
                   error{errc::invalid_json, p.handler().where(),
                         "invalid JSON at byte " + std::to_string(n) + ": " + ec.message()});
    }
    for (std::size_t i = n; i < text.size(); ++i)
        if (!is_json_space(text[i]))
            return out(
                boost::system::in_place_error,
                error{errc::invalid_json,
                      {},
                      "invalid JSON at byte " + std::to_string(i) + ": data after the document"});
    if (!p.done())
        return out(boost::system::in_place_error,
                   error{errc::invalid_json, p.handler().where(), "incomplete JSON"});
    return p.handler().st.release();
}

} // namespace qail::ast
