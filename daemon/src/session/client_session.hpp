// One PostgreSQL-wire client: startup (TLS, cancel, protocol negotiation), login at the
// proxy, then relaying its transactions to pooled backends under the database's mode.
#pragma once

#include "server/shared_state.hpp"
#include "session/client_stream.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

namespace qail::proxy {

struct session_context {
    std::shared_ptr<shared_state> state;
    /// Client-facing TLS; null when tls: is not configured.
    std::shared_ptr<boost::asio::ssl::context> tls;
    /// max_client_conn was reached at the accept: the client's startup (SSLRequest, TLS,
    /// a CancelRequest all as usual) is answered with FATAL 53300 instead of a login.
    bool over_limit = false;
};

/// Starts a client connection's session on `ex` (the socket's executor), which runs it to
/// its end. Failures are logged and close only this client.
void start_client_session(session_context ctx, client_stream stream, std::string peer,
                          const boost::asio::any_io_executor& ex);

} // namespace qail::proxy
