// The client error category and pg_error construction.
#include <qail/client/error.hpp>

namespace qail::client {
namespace {

class client_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "qail.client"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::ok:
            return "success";
        case errc::invalid_connection_string:
            return "invalid connection string";
        case errc::unknown_option:
            return "unknown connection option";
        case errc::invalid_option_value:
            return "invalid connection option value";
        case errc::connect_failed:
            return "could not connect to any host";
        case errc::connect_timeout:
            return "connection timed out";
        case errc::operation_timeout:
            return "operation timed out";
        case errc::tls_refused_by_server:
            return "server does not support TLS";
        case errc::tls_unexpected_data:
            return "server sent data after the TLS answer";
        case errc::tls_certificate_untrusted:
            return "server certificate not trusted";
        case errc::tls_host_name_mismatch:
            return "server certificate does not match host";
        case errc::tls_file_error:
            return "could not load a TLS file";
        case errc::auth_method_not_allowed:
            return "authentication method not allowed by policy";
        case errc::auth_method_unsupported:
            return "authentication method not supported";
        case errc::channel_binding_required:
            return "channel binding required but not possible";
        case errc::auth_incomplete:
            return "server did not complete authentication";
        case errc::password_required:
            return "server requires a password, none configured";
        case errc::protocol_violation:
            return "protocol violation by the server";
        case errc::protocol_version_rejected:
            return "server rejected the protocol version";
        case errc::invalid_protocol_negotiation:
            return "invalid protocol version negotiation";
        case errc::connection_broken:
            return "connection is broken";
        case errc::connection_closed:
            return "connection is closed";
        case errc::server_error:
            return "server error";
        case errc::pipeline_skipped:
            return "skipped: an earlier pipeline command failed";
        case errc::column_not_found:
            return "column not found";
        case errc::unexpected_null:
            return "unexpected NULL value";
        case errc::type_mismatch:
            return "type mismatch";
        case errc::embedded_nul:
            return "string contains a NUL byte";
        case errc::aborted:
            return "operation aborted";
        }
        return "unknown qail.client error";
    }
};

} // namespace

const boost::system::error_category& client_category() noexcept {
    static const client_category_impl instance;
    return instance;
}

pg_error pg_error::from(const protocol::error_fields& f) {
    pg_error e;
    e.severity = f.severity_nonlocalized.empty() ? f.severity : f.severity_nonlocalized;
    e.sqlstate = f.sqlstate;
    e.message = f.message;
    e.detail = f.detail;
    e.hint = f.hint;
    e.position = f.position;
    e.internal_position = f.internal_position;
    e.internal_query = f.internal_query;
    e.where = f.where;
    e.schema_name = f.schema_name;
    e.table_name = f.table_name;
    e.column_name = f.column_name;
    e.data_type_name = f.data_type_name;
    e.constraint_name = f.constraint_name;
    e.file = f.file;
    e.line = f.line;
    e.routine = f.routine;
    return e;
}

std::string pg_error::to_string() const {
    std::string s = severity.empty() ? "ERROR" : severity;
    if (!sqlstate.empty())
        s += " " + sqlstate;
    s += ": " + message;
    return s;
}

} // namespace qail::client
