// Startup and session-lifecycle messages: StartupMessage, SSLRequest,
// GSSENCRequest, CancelRequest, NegotiateProtocolVersion, BackendKeyData,
// ParameterStatus, ReadyForQuery, Terminate.
#pragma once

#include <qail/protocol/buffer.hpp>
#include <qail/protocol/frame.hpp>
#include <qail/protocol/packed.hpp>
#include <qail/protocol/tags.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

namespace qail::protocol {

/// The name/value pairs of a StartupMessage ("user", "database", "options", ...).
class startup_params {
public:
    struct param {
        std::string_view name;
        std::string_view value;
        bool operator==(const param&) const = default;
    };

    startup_params() = default;
    startup_params(byte_view raw, std::size_t count) noexcept : raw_(raw), count_(count) {}

    class iterator {
    public:
        using value_type = param;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(const char* p) noexcept : p_(p) {}
        param operator*() const noexcept {
            const std::string_view name{p_};
            return {name, std::string_view{p_ + name.size() + 1}};
        }
        iterator& operator++() noexcept {
            const param p = **this;
            p_ += p.name.size() + p.value.size() + 2;
            return *this;
        }
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
    /// The value of the last parameter called `name`, if any.
    [[nodiscard]] std::optional<std::string_view> find(std::string_view name) const noexcept;
    bool operator==(const startup_params& o) const noexcept {
        return count_ == o.count_ && raw_ == o.raw_;
    }

private:
    byte_view raw_; // pairs, without the final terminator
    std::size_t count_ = 0;
};

/// StartupMessage: a 3.x protocol version and the session parameters.
struct startup_message {
    std::int32_t version = request_code::protocol_3_2;
    startup_params params;
    bool operator==(const startup_message&) const = default;
};
/// SSLRequest: asks to switch to TLS; answered by one byte, 'S' or 'N'.
struct ssl_request {
    bool operator==(const ssl_request&) const = default;
};
/// GSSENCRequest: asks for GSSAPI encryption; answered by one byte, 'G' or 'N'.
struct gssenc_request {
    bool operator==(const gssenc_request&) const = default;
};
/// CancelRequest: process id and secret key (4 bytes in 3.0, 4..256 in 3.2).
struct cancel_request {
    std::int32_t process_id = 0;
    byte_view secret_key;
    bool operator==(const cancel_request&) const = default;
};

using startup_request = std::variant<startup_message, ssl_request, gssenc_request, cancel_request>;

/// Decodes a framed startup-phase packet. A major version other than 3 (and
/// not 1234, the special requests) is unknown_request_code.
[[nodiscard]] std::error_code decode(const startup_frame& f, startup_request& out) noexcept;
/// Frames and decodes the startup-phase packet at the front of `in`.
[[nodiscard]] decoded<startup_request> decode_startup(byte_view in,
                                                      const limits& lim = {}) noexcept;

/// Writes a StartupMessage from any range of {name, value} pairs.
template <class Params>
void encode_startup_message(writer& w, std::int32_t version, const Params& params) {
    const std::size_t mark = w.begin_untyped();
    w.put_i32(version);
    for (const auto& [name, value] : params) {
        if (std::string_view{name}.empty())
            w.fail(errc::invalid_startup_parameters);
        w.put_cstr(name);
        w.put_cstr(value);
    }
    w.put_u8(0);
    w.end_message(mark);
}
void encode(writer& w, const startup_message& m);
void encode(writer& w, const ssl_request& m);
void encode(writer& w, const gssenc_request& m);
/// Sets invalid_key_length when the key is not 4..256 bytes.
void encode(writer& w, const cancel_request& m);

/// BackendKeyData: the key a client needs to cancel its queries.
struct backend_key_data {
    std::int32_t process_id = 0;
    byte_view secret_key;
    bool operator==(const backend_key_data&) const = default;
};
/// NegotiateProtocolVersion: the newest protocol version the server supports for
/// the requested major version, and the protocol options ("_pq_.*") it did not
/// recognise. The documentation calls the field "newest minor protocol version",
/// but servers send the whole version number (196608 for 3.0): read the minor
/// with protocol_minor().
struct negotiate_protocol_version {
    std::int32_t newest_version = 0;
    cstring_list unrecognized_options;
    bool operator==(const negotiate_protocol_version&) const = default;
};
/// ParameterStatus: a run-time parameter reported by the server.
struct parameter_status {
    std::string_view name;
    std::string_view value;
    bool operator==(const parameter_status&) const = default;
};

/// Transaction status carried by ReadyForQuery.
enum class transaction_status : char {
    idle = 'I',
    in_transaction = 'T',
    failed = 'E',
};
/// ReadyForQuery: the backend is ready for a new query cycle.
struct ready_for_query {
    transaction_status status = transaction_status::idle;
    bool operator==(const ready_for_query&) const = default;
};
/// Terminate: the frontend closes the session.
struct terminate {
    bool operator==(const terminate&) const = default;
};

[[nodiscard]] std::error_code decode(byte_view body, backend_key_data& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, negotiate_protocol_version& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, parameter_status& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, ready_for_query& out) noexcept;
[[nodiscard]] std::error_code decode(byte_view body, terminate& out) noexcept;

void encode(writer& w, const backend_key_data& m);
template <class Options>
void encode_negotiate_protocol_version(writer& w, std::int32_t newest_version,
                                       const Options& unrecognized) {
    const std::size_t mark = w.begin_message(backend_tag::negotiate_protocol_version);
    w.put_i32(newest_version);
    std::int32_t n = 0;
    for ([[maybe_unused]] const auto& o : unrecognized)
        ++n;
    w.put_i32(n);
    for (const auto& o : unrecognized)
        w.put_cstr(o);
    w.end_message(mark);
}
void encode(writer& w, const negotiate_protocol_version& m);
void encode(writer& w, const parameter_status& m);
void encode(writer& w, const ready_for_query& m);
void encode(writer& w, const terminate& m);

} // namespace qail::protocol
