// SCRAM-SHA-256(-PLUS) as PostgreSQL uses it: sans-IO client and server, verifiers, SASLprep.
// RFC 5802, RFC 7677, https://www.postgresql.org/docs/current/sasl-authentication.html
#pragma once

#include <qail/protocol/sha256.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace qail::protocol {

// --- Mechanisms and limits ---------------------------------------------------------

/// The two SASL mechanisms PostgreSQL offers.
enum class scram_mechanism {
    sha_256,      ///< "SCRAM-SHA-256"
    sha_256_plus, ///< "SCRAM-SHA-256-PLUS" (with tls-server-end-point channel binding)
};

/// The SASL name of a mechanism, as sent in AuthenticationSASL / SASLInitialResponse.
[[nodiscard]] std::string_view scram_mechanism_name(scram_mechanism mechanism) noexcept;

/// The mechanism a SASL name denotes; nullopt for any other name (exact, case-sensitive
/// match, as PostgreSQL does).
[[nodiscard]] std::optional<scram_mechanism> parse_scram_mechanism(std::string_view name) noexcept;

/// The only channel-binding type PostgreSQL implements.
inline constexpr std::string_view scram_channel_binding_type = "tls-server-end-point";

/// Every SCRAM message either side accepts is at most this long (PostgreSQL's own are
/// around 100 bytes); longer input is refused with errc::message_too_large before any
/// parsing.
inline constexpr std::size_t scram_max_message_size = 8192;

/// The highest iteration count a client accepts from a server unless configured
/// otherwise: a hostile server could otherwise make the client burn CPU for minutes.
inline constexpr std::uint32_t scram_default_max_iterations = 10'000'000;

/// PostgreSQL's default scram_iterations, used for new verifiers.
inline constexpr std::uint32_t scram_default_iterations = 4096;

/// The largest iteration count a stored verifier may hold (PostgreSQL keeps it in an int).
inline constexpr std::uint32_t scram_max_verifier_iterations = 0x7fff'ffff;

/// Random bytes behind a nonce; 18, as PostgreSQL uses, giving 24 base64 characters.
inline constexpr std::size_t scram_raw_nonce_size = 18;
using scram_nonce_bytes = std::array<std::uint8_t, scram_raw_nonce_size>;

/// Salt length PostgreSQL uses for new verifiers.
inline constexpr std::size_t scram_default_salt_size = 16;

/// Outcome of a step that produces the next message to send: either `error` is set, or
/// `message` holds the text to send (the SASL payload, without any framing).
struct scram_result {
    std::error_code error;
    std::string message;

    [[nodiscard]] bool ok() const noexcept { return !error; }
};

// --- Client --------------------------------------------------------------------------

/// The GS2 channel-binding flag a client sends (RFC 5802 section 7).
enum class scram_channel_binding_mode {
    /// "n": the client does not support channel binding.
    none,
    /// "y": the client supports channel binding but the server did not offer
    /// SCRAM-SHA-256-PLUS. A server that did offer it treats this as a downgrade attack.
    client_supports_but_server_did_not_offer,
    /// "p=tls-server-end-point": channel binding in use (mechanism SCRAM-SHA-256-PLUS).
    tls_server_end_point,
};

/// The channel-binding choice of a client. For tls_server_end_point, `data` holds the
/// binding data (the hash of the server certificate, RFC 5929 section 4.1), which the
/// TLS layer computes; it is ignored for the other modes.
struct scram_channel_binding {
    scram_channel_binding_mode mode = scram_channel_binding_mode::none;
    std::vector<std::uint8_t> data;
};

/// ClientKey and ServerKey (RFC 5802 section 3) of a password for one salt and iteration
/// count: what a client must derive, with PBKDF2 (costly by design), before it can
/// answer a server-first-message.
struct scram_keys {
    sha256_hash client_key{};
    sha256_hash server_key{};

    friend bool operator==(const scram_keys&, const scram_keys&) = default;
};

/// Derives them from `password` (passed through saslprep()).
[[nodiscard]] scram_keys derive_scram_keys(std::string_view password,
                                           std::span<const std::uint8_t> salt,
                                           std::uint32_t iterations);

struct scram_client_options {
    /// Sent as n=<user>. PostgreSQL ignores it (the StartupMessage names the user) and
    /// libpq sends it empty, so leave it empty unless talking to another SCRAM peer.
    std::string user;
    scram_channel_binding channel_binding;
    /// Refuse a server-first-message whose i= is above this (errc::scram_invalid_iterations).
    std::uint32_t max_iterations = scram_default_max_iterations;
    /// Where handle_server_first() gets the keys for the server's salt and (accepted)
    /// iteration count; empty: derive_scram_keys() of the password. They stay the same
    /// until the server's verifier changes, so a caller that logs in often with one
    /// password can remember them and spare PBKDF2 on every login.
    std::function<scram_keys(std::span<const std::uint8_t> salt, std::uint32_t iterations)> keys;
};

/// Client half of a SCRAM exchange; does no I/O. Use:
///   send SASLInitialResponse(mechanism(), client_first_message());
///   on AuthenticationSASLContinue: r = handle_server_first(data); send SASLResponse(r.message);
///   on AuthenticationSASLFinal: ec = verify_server_final(data);
/// and accept AuthenticationOk only once complete() is true: it proves the server knows
/// the verifier, not just that it let us in. Any failed step ends the exchange: later
/// calls return errc::scram_out_of_order.
class scram_client {
public:
    /// `password` is passed through saslprep(); `random` must come from a CSPRNG and
    /// becomes the client nonce (base64-encoded).
    scram_client(std::string_view password, const scram_nonce_bytes& random,
                 scram_client_options options = {});

    /// As the constructor, but with the printable client nonce given directly (test
    /// vectors need exact nonces). Nullopt if `nonce` is empty or holds a character
    /// outside the printable ASCII range or a ','.
    [[nodiscard]] static std::optional<scram_client> with_nonce(std::string_view password,
                                                                std::string_view nonce,
                                                                scram_client_options options = {});

    /// SCRAM-SHA-256-PLUS when the channel binding mode is tls_server_end_point.
    [[nodiscard]] scram_mechanism mechanism() const noexcept;

    /// The client-first-message ("n,,n=,r=<nonce>" for PostgreSQL). The first call
    /// starts the exchange; later calls return the same text.
    [[nodiscard]] const std::string& client_first_message();

    /// Validates the server-first-message and returns the client-final-message. Errors:
    /// scram_out_of_order, message_too_large, scram_malformed_message,
    /// scram_nonce_mismatch, scram_invalid_salt, scram_invalid_iterations.
    [[nodiscard]] scram_result handle_server_first(std::string_view message);

    /// Checks the server-final-message. Errors: scram_out_of_order, message_too_large,
    /// scram_malformed_message, scram_server_error (e=..., see server_error()),
    /// scram_server_signature_mismatch.
    [[nodiscard]] std::error_code verify_server_final(std::string_view message);

    /// True once verify_server_final() has accepted the server's signature.
    [[nodiscard]] bool complete() const noexcept { return state_ == state::complete; }

    /// The value of e= when the server reported an error; empty otherwise.
    [[nodiscard]] std::string_view server_error() const noexcept { return server_error_; }

private:
    enum class state { initial, awaiting_server_first, awaiting_server_final, complete, failed };

    struct nonce_text {
        std::string value;
    };
    scram_client(std::string_view password, nonce_text nonce, scram_client_options options);

    [[nodiscard]] scram_result fail_step(std::error_code error);

    std::string password_; // after SASLprep
    std::string client_nonce_;
    scram_client_options options_;
    std::string gs2_header_;
    std::string client_first_message_;
    std::string client_first_bare_;
    sha256_hash expected_server_signature_{};
    std::string server_error_;
    state state_ = state::initial;
};

// --- Verifiers -----------------------------------------------------------------------

/// What a server stores instead of a password (RFC 5802 section 3), in PostgreSQL's
/// pg_authid form "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>".
struct scram_verifier {
    std::uint32_t iterations = 0;
    std::vector<std::uint8_t> salt;
    sha256_hash stored_key{};
    sha256_hash server_key{};

    friend bool operator==(const scram_verifier&, const scram_verifier&) = default;
};

/// Parses the pg_authid text form. Nullopt (errc::scram_invalid_verifier for callers
/// that report a code) unless: the prefix is exactly "SCRAM-SHA-256$", the iteration
/// count is a decimal in 1..scram_max_verifier_iterations without leading zeros, the
/// salt is non-empty strict base64, and both keys are strict base64 of 32 bytes.
[[nodiscard]] std::optional<scram_verifier> parse_scram_verifier(std::string_view text);

/// True if `text` starts like a SCRAM verifier, so a config loader can tell verifiers
/// from plaintext passwords before parsing (then report a parse failure as an error
/// rather than silently treating a broken verifier as a password).
[[nodiscard]] bool looks_like_scram_verifier(std::string_view text) noexcept;

/// Derives a verifier from a password (after saslprep()). `salt` should be
/// scram_default_salt_size CSPRNG bytes; an iteration count of 0 is stored as 1.
[[nodiscard]] scram_verifier
make_scram_verifier(std::string_view password, std::span<const std::uint8_t> salt,
                    std::uint32_t iterations = scram_default_iterations);

/// The pg_authid text form of a verifier; parse_scram_verifier() reads it back.
[[nodiscard]] std::string format_scram_verifier(const scram_verifier& verifier);

/// Whether `password` matches `verifier` (for a server that received a cleartext
/// password but stores only a verifier). Constant-time in the key comparison.
[[nodiscard]] bool verify_scram_password(const scram_verifier& verifier, std::string_view password);

// --- Server --------------------------------------------------------------------------

struct scram_server_options {
    /// True when this connection advertises SCRAM-SHA-256-PLUS (it is TLS and we can
    /// compute binding data). Then a client's "y" flag is a downgrade and is refused.
    bool channel_binding_offered = false;
    /// The tls-server-end-point data a "p=" client must echo (hash of our certificate).
    std::vector<std::uint8_t> channel_binding_data;
};

/// Server half of a SCRAM exchange; does no I/O. Use:
///   on SASLInitialResponse: r = handle_client_first(mechanism, data); send
///   SASLContinue(r.message); on SASLResponse: r = handle_client_final(data); send
///   SASLFinal(r.message), then AuthenticationOk.
/// On any error send an ErrorResponse; the exchange is over (later calls return
/// errc::scram_out_of_order). For an unknown user, run the exchange against a made-up
/// verifier so the failure looks the same as a wrong password.
class scram_server {
public:
    /// `random` must come from a CSPRNG; its base64 is appended to the client nonce.
    scram_server(scram_verifier verifier, const scram_nonce_bytes& random,
                 scram_server_options options = {});

    /// As the constructor, with the server's part of the nonce given as printable text
    /// (test vectors need it). Nullopt if empty or not printable ASCII without ','.
    [[nodiscard]] static std::optional<scram_server> with_nonce(scram_verifier verifier,
                                                                std::string_view server_nonce,
                                                                scram_server_options options = {});

    /// Parses the client-first-message and returns the server-first-message. Errors:
    /// scram_out_of_order, message_too_large, scram_malformed_message (grammar, an
    /// m= extension, trailing attributes, or an a= authorization identity, which
    /// PostgreSQL does not support either), scram_channel_binding_mismatch ("p=" when
    /// not offered or with another binding type, "y" when PLUS was offered),
    /// scram_nonce_mismatch (empty or non-printable client nonce),
    /// scram_invalid_verifier (the verifier has no salt or zero iterations).
    [[nodiscard]] scram_result handle_client_first(std::string_view message);

    /// As above, also checking the SASL mechanism the client chose against its GS2
    /// flag: an unknown name, or SCRAM-SHA-256-PLUS when not offered, is
    /// scram_unsupported_mechanism; PLUS without "p=", or plain SCRAM-SHA-256 with
    /// "p=", is scram_channel_binding_mismatch.
    [[nodiscard]] scram_result handle_client_first(std::string_view mechanism,
                                                   std::string_view message);

    /// Checks the client-final-message and returns the server-final-message. Errors:
    /// scram_out_of_order, message_too_large, scram_malformed_message,
    /// scram_channel_binding_mismatch (c= differs from the GS2 header + binding data),
    /// scram_nonce_mismatch, scram_invalid_proof (wrong password).
    [[nodiscard]] scram_result handle_client_final(std::string_view message);

    /// True once handle_client_final() has verified the client's proof.
    [[nodiscard]] bool authenticated() const noexcept { return state_ == state::authenticated; }

private:
    enum class state { awaiting_client_first, awaiting_client_final, authenticated, failed };

    struct nonce_text {
        std::string value;
    };
    scram_server(scram_verifier verifier, nonce_text server_nonce, scram_server_options options);

    [[nodiscard]] scram_result fail_step(std::error_code error);
    [[nodiscard]] scram_result first_step(std::optional<scram_mechanism> mechanism,
                                          std::string_view message);

    scram_verifier verifier_;
    std::string server_nonce_;
    scram_server_options options_;
    std::string gs2_header_;
    bool client_used_binding_ = false;
    std::string client_first_bare_;
    std::string server_first_message_;
    std::string combined_nonce_;
    state state_ = state::awaiting_client_first;
};

// --- SASLprep ------------------------------------------------------------------------

/// SASLprep (RFC 4013) the way PostgreSQL applies it to passwords: pure ASCII is
/// returned unchanged; input that is not valid UTF-8 is returned unchanged; otherwise
/// non-ASCII spaces (RFC 3454 table C.1.2) become U+0020 and "commonly mapped to
/// nothing" characters (table B.1) are removed, and if the result then holds a
/// prohibited character (tables C.2 to C.9) the raw input is returned instead, as
/// PostgreSQL does rather than failing.
///
/// Limitation: NFKC normalisation (RFC 4013 section 2.2), the unassigned-code-point
/// check (table A.1) and the bidirectional rules (RFC 3454 section 6) are not
/// implemented. Passwords whose NFKC form differs from their raw form (full-width
/// letters, ligatures, decomposed accents, ...) therefore hash differently than in
/// PostgreSQL; ASCII passwords, and those only using precomposed characters, agree.
[[nodiscard]] std::string saslprep(std::string_view password);

} // namespace qail::protocol
