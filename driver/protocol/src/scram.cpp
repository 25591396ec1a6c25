// SCRAM-SHA-256(-PLUS) message grammar, key derivation, client/server steps and SASLprep.
#include <qail/protocol/base64.hpp>
#include <qail/protocol/error.hpp>
#include <qail/protocol/md5_password.hpp>
#include <qail/protocol/scram.hpp>

#include <algorithm>
#include <utility>

namespace qail::protocol {
namespace {

constexpr std::string_view mechanism_sha_256 = "SCRAM-SHA-256";
constexpr std::string_view mechanism_sha_256_plus = "SCRAM-SHA-256-PLUS";
constexpr std::string_view verifier_prefix = "SCRAM-SHA-256$";

// ---- small helpers -------------------------------------------------------------------

[[nodiscard]] std::span<const std::uint8_t> bytes_of(std::string_view text) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

void append_bytes(std::string& out, std::span<const std::uint8_t> bytes) {
    for (const std::uint8_t byte : bytes) {
        out.push_back(static_cast<char>(byte));
    }
}

/// RFC 5802 "printable": %x21-2B / %x2D-7E, i.e. visible ASCII except ','.
[[nodiscard]] bool is_printable_nonce(std::string_view nonce) noexcept {
    if (nonce.empty()) {
        return false;
    }
    return std::all_of(nonce.begin(), nonce.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x21 && u <= 0x7e && c != ',';
    });
}

/// RFC 5802 posit-number (%x31-39 *DIGIT) no greater than `max`. Stops accumulating
/// as soon as the value exceeds `max`, so arbitrarily long digit strings cannot overflow.
[[nodiscard]] std::optional<std::uint32_t> parse_positive_decimal(std::string_view text,
                                                                  std::uint32_t max) noexcept {
    if (text.empty() || text.front() == '0') {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
        if (value > max) {
            return std::nullopt;
        }
    }
    return static_cast<std::uint32_t>(value);
}

/// Splits a SCRAM message at ',' one field at a time. "a,b," yields "a", "b", "" so a
/// trailing comma shows up as an empty (and therefore invalid) attribute.
class field_reader {
public:
    explicit field_reader(std::string_view text) noexcept : rest_(text) {}

    [[nodiscard]] std::optional<std::string_view> next() noexcept {
        if (done_) {
            return std::nullopt;
        }
        const std::size_t comma = rest_.find(',');
        if (comma == std::string_view::npos) {
            done_ = true;
            return rest_;
        }
        const std::string_view field = rest_.substr(0, comma);
        rest_ = rest_.substr(comma + 1);
        return field;
    }

    [[nodiscard]] bool at_end() const noexcept { return done_; }

private:
    std::string_view rest_;
    bool done_ = false;
};

/// One "x=value" attribute of a SCRAM message.
struct attribute {
    char name = 0;
    std::string_view value;
};

[[nodiscard]] std::optional<attribute> parse_attribute(std::string_view field) noexcept {
    if (field.size() < 2 || field[1] != '=') {
        return std::nullopt;
    }
    const char name = field[0];
    const bool letter = (name >= 'a' && name <= 'z') || (name >= 'A' && name <= 'Z');
    if (!letter) {
        return std::nullopt;
    }
    return attribute{name, field.substr(2)};
}

/// The next field, if it is attribute `name`.
[[nodiscard]] std::optional<std::string_view> expect_attribute(field_reader& fields,
                                                               char name) noexcept {
    const std::optional<std::string_view> field = fields.next();
    if (!field) {
        return std::nullopt;
    }
    const std::optional<attribute> attr = parse_attribute(*field);
    if (!attr || attr->name != name) {
        return std::nullopt;
    }
    return attr->value;
}

/// Checks every input: bounded size and no NUL (RFC 5802 value-char excludes it).
[[nodiscard]] std::error_code check_envelope(std::string_view message) noexcept {
    if (message.size() > scram_max_message_size) {
        return errc::message_too_large;
    }
    if (message.find('\0') != std::string_view::npos) {
        return errc::scram_malformed_message;
    }
    return {};
}

/// Base64 of exactly 32 bytes (a proof, signature or key), or nullopt.
[[nodiscard]] std::optional<sha256_hash> decode_hash(std::string_view text) {
    const std::optional<std::vector<std::uint8_t>> bytes = base64_decode(text);
    if (!bytes || bytes->size() != sha256_digest_size) {
        return std::nullopt;
    }
    sha256_hash hash{};
    std::copy(bytes->begin(), bytes->end(), hash.begin());
    return hash;
}

[[nodiscard]] std::string gs2_header_for(scram_channel_binding_mode mode) {
    switch (mode) {
    case scram_channel_binding_mode::none:
        return "n,,";
    case scram_channel_binding_mode::client_supports_but_server_did_not_offer:
        return "y,,";
    case scram_channel_binding_mode::tls_server_end_point:
        return "p=" + std::string(scram_channel_binding_type) + ",,";
    }
    return "n,,";
}

/// c= attribute value: base64(gs2 header + binding data when "p=" is used).
[[nodiscard]] std::string channel_binding_input(std::string_view gs2_header, bool with_data,
                                                std::span<const std::uint8_t> data) {
    std::string input(gs2_header);
    if (with_data) {
        append_bytes(input, data);
    }
    return input;
}

/// RFC 5802 saslname: ',' and '=' escaped as "=2C" and "=3D".
[[nodiscard]] std::string escape_saslname(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (const char c : name) {
        if (c == ',') {
            out += "=2C";
        } else if (c == '=') {
            out += "=3D";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

/// The keys RFC 5802 section 3 derives from a password.
struct derived_keys {
    sha256_hash client_key{};
    sha256_hash stored_key{};
    sha256_hash server_key{};
};

[[nodiscard]] derived_keys derive_keys(std::string_view prepared_password,
                                       std::span<const std::uint8_t> salt,
                                       std::uint32_t iterations) {
    const sha256_hash salted = pbkdf2_hmac_sha256(prepared_password, salt, iterations);
    derived_keys keys;
    keys.client_key = hmac_sha256(salted, bytes_of("Client Key"));
    keys.stored_key = sha256_digest(keys.client_key);
    keys.server_key = hmac_sha256(salted, bytes_of("Server Key"));
    return keys;
}

[[nodiscard]] std::string auth_message(std::string_view client_first_bare,
                                       std::string_view server_first,
                                       std::string_view client_final_without_proof) {
    std::string text;
    text.reserve(client_first_bare.size() + server_first.size() +
                 client_final_without_proof.size() + 2);
    text.append(client_first_bare);
    text.push_back(',');
    text.append(server_first);
    text.push_back(',');
    text.append(client_final_without_proof);
    return text;
}

[[nodiscard]] sha256_hash xor_hashes(const sha256_hash& a, const sha256_hash& b) noexcept {
    sha256_hash out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        out[i] = static_cast<std::uint8_t>(a[i] ^ b[i]);
    }
    return out;
}

// ---- SASLprep tables (RFC 3454 appendices), inclusive code point ranges -------------

struct code_range {
    char32_t first;
    char32_t last;
};

[[nodiscard]] bool in_table(char32_t c, std::span<const code_range> table) noexcept {
    return std::any_of(table.begin(), table.end(),
                       [c](const code_range& r) { return c >= r.first && c <= r.last; });
}

// C.1.2 Non-ASCII space characters.
constexpr auto non_ascii_spaces = std::to_array<code_range>({
    {0x00A0, 0x00A0},
    {0x1680, 0x1680},
    {0x2000, 0x200B},
    {0x202F, 0x202F},
    {0x205F, 0x205F},
    {0x3000, 0x3000},
});

// B.1 Commonly mapped to nothing.
constexpr auto mapped_to_nothing = std::to_array<code_range>({
    {0x00AD, 0x00AD},
    {0x034F, 0x034F},
    {0x1806, 0x1806},
    {0x180B, 0x180D},
    {0x200B, 0x200D},
    {0x2060, 0x2060},
    {0xFE00, 0xFE0F},
    {0xFEFF, 0xFEFF},
});

// C.1.2 and C.2.1 to C.9: prohibited output.
constexpr auto prohibited = std::to_array<code_range>({
    // C.1.2 non-ASCII space (only reachable if the mapping above is bypassed)
    {0x00A0, 0x00A0},
    {0x1680, 0x1680},
    {0x2000, 0x200B},
    {0x202F, 0x202F},
    {0x205F, 0x205F},
    {0x3000, 0x3000},
    // C.2.1 ASCII control
    {0x0000, 0x001F},
    {0x007F, 0x007F},
    // C.2.2 non-ASCII control
    {0x0080, 0x009F},
    {0x06DD, 0x06DD},
    {0x070F, 0x070F},
    {0x180E, 0x180E},
    {0x200C, 0x200D},
    {0x2028, 0x2029},
    {0x2060, 0x2063},
    {0x206A, 0x206F},
    {0xFEFF, 0xFEFF},
    {0xFFF9, 0xFFFC},
    {0x1D173, 0x1D17A},
    // C.3 private use
    {0xE000, 0xF8FF},
    {0xF0000, 0xFFFFD},
    {0x100000, 0x10FFFD},
    // C.4 non-character code points
    {0xFDD0, 0xFDEF},
    {0xFFFE, 0xFFFF},
    {0x1FFFE, 0x1FFFF},
    {0x2FFFE, 0x2FFFF},
    {0x3FFFE, 0x3FFFF},
    {0x4FFFE, 0x4FFFF},
    {0x5FFFE, 0x5FFFF},
    {0x6FFFE, 0x6FFFF},
    {0x7FFFE, 0x7FFFF},
    {0x8FFFE, 0x8FFFF},
    {0x9FFFE, 0x9FFFF},
    {0xAFFFE, 0xAFFFF},
    {0xBFFFE, 0xBFFFF},
    {0xCFFFE, 0xCFFFF},
    {0xDFFFE, 0xDFFFF},
    {0xEFFFE, 0xEFFFF},
    {0xFFFFE, 0xFFFFF},
    {0x10FFFE, 0x10FFFF},
    // C.5 surrogate codes (never produced by the strict UTF-8 decoder; kept for completeness)
    {0xD800, 0xDFFF},
    // C.6 inappropriate for plain text
    {0xFFF9, 0xFFFD},
    // C.7 inappropriate for canonical representation
    {0x2FF0, 0x2FFB},
    // C.8 change display properties or deprecated
    {0x0340, 0x0341},
    {0x200E, 0x200F},
    {0x202A, 0x202E},
    {0x206A, 0x206F},
    // C.9 tagging characters
    {0xE0001, 0xE0001},
    {0xE0020, 0xE007F},
});

/// Strict UTF-8 decoding (no overlong forms, no surrogates, nothing above U+10FFFF).
[[nodiscard]] std::optional<std::u32string> decode_utf8(std::string_view text) {
    std::u32string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        char32_t c = 0;
        char32_t min = 0;
        if (lead < 0x80) {
            length = 1;
            c = lead;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            c = lead & 0x1FU;
            min = 0x80;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            c = lead & 0x0FU;
            min = 0x800;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            c = lead & 0x07U;
            min = 0x10000;
        } else {
            return std::nullopt;
        }
        if (text.size() - i < length) {
            return std::nullopt;
        }
        for (std::size_t j = 1; j < length; ++j) {
            const auto cont = static_cast<unsigned char>(text[i + j]);
            if ((cont & 0xC0U) != 0x80U) {
                return std::nullopt;
            }
            c = (c << 6) | (cont & 0x3FU);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return std::nullopt;
        }
        out.push_back(c);
        i += length;
    }
    return out;
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0U | (c >> 6)));
        out.push_back(static_cast<char>(0x80U | (c & 0x3FU)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0U | (c >> 12)));
        out.push_back(static_cast<char>(0x80U | ((c >> 6) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | (c & 0x3FU)));
    } else {
        out.push_back(static_cast<char>(0xF0U | (c >> 18)));
        out.push_back(static_cast<char>(0x80U | ((c >> 12) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | ((c >> 6) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | (c & 0x3FU)));
    }
}

} // namespace

// ---- mechanisms ----------------------------------------------------------------------

std::string_view scram_mechanism_name(scram_mechanism mechanism) noexcept {
    return mechanism == scram_mechanism::sha_256_plus ? mechanism_sha_256_plus : mechanism_sha_256;
}

std::optional<scram_mechanism> parse_scram_mechanism(std::string_view name) noexcept {
    if (name == mechanism_sha_256) {
        return scram_mechanism::sha_256;
    }
    if (name == mechanism_sha_256_plus) {
        return scram_mechanism::sha_256_plus;
    }
    return std::nullopt;
}

// ---- SASLprep ------------------------------------------------------------------------

std::string saslprep(std::string_view password) {
    const bool ascii = std::all_of(password.begin(), password.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii) {
        return std::string(password);
    }
    const std::optional<std::u32string> decoded = decode_utf8(password);
    if (!decoded) {
        return std::string(password);
    }
    std::u32string mapped;
    mapped.reserve(decoded->size());
    for (const char32_t c : *decoded) {
        if (in_table(c, non_ascii_spaces)) {
            mapped.push_back(U' ');
        } else if (!in_table(c, mapped_to_nothing)) {
            mapped.push_back(c);
        }
    }
    // NFKC would go here (not implemented; see the header).
    for (const char32_t c : mapped) {
        if (in_table(c, prohibited)) {
            return std::string(password);
        }
    }
    std::string out;
    out.reserve(password.size());
    for (const char32_t c : mapped) {
        append_utf8(out, c);
    }
    return out;
}

// ---- verifiers -----------------------------------------------------------------------

bool looks_like_scram_verifier(std::string_view text) noexcept {
    return text.starts_with(verifier_prefix);
}

std::optional<scram_verifier> parse_scram_verifier(std::string_view text) {
    if (!text.starts_with(verifier_prefix)) {
        return std::nullopt;
    }
    const std::string_view body = text.substr(verifier_prefix.size());
    const std::size_t dollar = body.find('$');
    if (dollar == std::string_view::npos) {
        return std::nullopt;
    }
    const std::string_view params = body.substr(0, dollar);
    const std::string_view keys = body.substr(dollar + 1);
    const std::size_t params_colon = params.find(':');
    const std::size_t keys_colon = keys.find(':');
    if (params_colon == std::string_view::npos || keys_colon == std::string_view::npos) {
        return std::nullopt;
    }
    // '$' and ':' are outside the base64 alphabet, so any extra separator makes one of
    // the decodes below fail.
    const std::optional<std::uint32_t> iterations =
        parse_positive_decimal(params.substr(0, params_colon), scram_max_verifier_iterations);
    std::optional<std::vector<std::uint8_t>> salt = base64_decode(params.substr(params_colon + 1));
    const std::optional<sha256_hash> stored_key = decode_hash(keys.substr(0, keys_colon));
    const std::optional<sha256_hash> server_key = decode_hash(keys.substr(keys_colon + 1));
    if (!iterations || !salt || salt->empty() || !stored_key || !server_key) {
        return std::nullopt;
    }
    scram_verifier verifier;
    verifier.iterations = *iterations;
    verifier.salt = std::move(*salt);
    verifier.stored_key = *stored_key;
    verifier.server_key = *server_key;
    return verifier;
}

scram_verifier make_scram_verifier(std::string_view password, std::span<const std::uint8_t> salt,
                                   std::uint32_t iterations) {
    scram_verifier verifier;
    verifier.iterations = std::max<std::uint32_t>(iterations, 1);
    verifier.salt.assign(salt.begin(), salt.end());
    const derived_keys keys = derive_keys(saslprep(password), salt, verifier.iterations);
    verifier.stored_key = keys.stored_key;
    verifier.server_key = keys.server_key;
    return verifier;
}

std::string format_scram_verifier(const scram_verifier& verifier) {
    std::string text(verifier_prefix);
    text += std::to_string(verifier.iterations);
    text.push_back(':');
    text += base64_encode(verifier.salt);
    text.push_back('$');
    text += base64_encode(verifier.stored_key);
    text.push_back(':');
    text += base64_encode(verifier.server_key);
    return text;
}

bool verify_scram_password(const scram_verifier& verifier, std::string_view password) {
    if (verifier.iterations == 0 || verifier.salt.empty()) {
        return false;
    }
    const derived_keys keys = derive_keys(saslprep(password), verifier.salt, verifier.iterations);
    // Both keys must match, as PostgreSQL checks: a verifier with a forged ServerKey
    // would otherwise let a client accept an impostor server.
    const bool stored_ok = constant_time_equal(keys.stored_key, verifier.stored_key);
    const bool server_ok = constant_time_equal(keys.server_key, verifier.server_key);
    return stored_ok && server_ok;
}

// ---- client --------------------------------------------------------------------------

scram_client::scram_client(std::string_view password, const scram_nonce_bytes& random,
                           scram_client_options options)
    : scram_client(password, nonce_text{base64_encode(random)}, std::move(options)) {}

scram_client::scram_client(std::string_view password, nonce_text nonce,
                           scram_client_options options)
    : password_(saslprep(password)), client_nonce_(std::move(nonce.value)),
      options_(std::move(options)), gs2_header_(gs2_header_for(options_.channel_binding.mode)) {
    client_first_bare_ = "n=" + escape_saslname(options_.user) + ",r=" + client_nonce_;
    client_first_message_ = gs2_header_ + client_first_bare_;
}

std::optional<scram_client> scram_client::with_nonce(std::string_view password,
                                                     std::string_view nonce,
                                                     scram_client_options options) {
    if (!is_printable_nonce(nonce)) {
        return std::nullopt;
    }
    return scram_client(password, nonce_text{std::string(nonce)}, std::move(options));
}

scram_mechanism scram_client::mechanism() const noexcept {
    return options_.channel_binding.mode == scram_channel_binding_mode::tls_server_end_point
               ? scram_mechanism::sha_256_plus
               : scram_mechanism::sha_256;
}

const std::string& scram_client::client_first_message() {
    if (state_ == state::initial) {
        state_ = state::awaiting_server_first;
    }
    return client_first_message_;
}

scram_keys derive_scram_keys(std::string_view password, std::span<const std::uint8_t> salt,
                             std::uint32_t iterations) {
    const derived_keys derived = derive_keys(saslprep(password), salt, iterations);
    return {derived.client_key, derived.server_key};
}

scram_result scram_client::fail_step(std::error_code error) {
    state_ = state::failed;
    password_.clear();
    return scram_result{error, {}};
}

scram_result scram_client::handle_server_first(std::string_view message) {
    if (state_ != state::awaiting_server_first) {
        return fail_step(errc::scram_out_of_order);
    }
    if (const std::error_code error = check_envelope(message)) {
        return fail_step(error);
    }
    // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count
    // ["," extensions]. Like libpq, accept neither m= nor extensions.
    field_reader fields(message);
    const std::optional<std::string_view> nonce = expect_attribute(fields, 'r');
    if (!nonce) {
        return fail_step(errc::scram_malformed_message);
    }
    if (!is_printable_nonce(*nonce) || nonce->size() <= client_nonce_.size() ||
        !nonce->starts_with(client_nonce_)) {
        return fail_step(errc::scram_nonce_mismatch);
    }
    const std::optional<std::string_view> salt_text = expect_attribute(fields, 's');
    if (!salt_text) {
        return fail_step(errc::scram_invalid_salt);
    }
    const std::optional<std::vector<std::uint8_t>> salt = base64_decode(*salt_text);
    if (!salt || salt->empty()) {
        return fail_step(errc::scram_invalid_salt);
    }
    const std::optional<std::string_view> iterations_text = expect_attribute(fields, 'i');
    if (!iterations_text) {
        return fail_step(errc::scram_invalid_iterations);
    }
    const std::optional<std::uint32_t> iterations =
        parse_positive_decimal(*iterations_text, options_.max_iterations);
    if (!iterations) {
        return fail_step(errc::scram_invalid_iterations);
    }
    if (!fields.at_end()) {
        return fail_step(errc::scram_malformed_message);
    }

    scram_keys keys;
    if (options_.keys) {
        keys = options_.keys(*salt, *iterations);
    } else {
        const derived_keys derived = derive_keys(password_, *salt, *iterations);
        keys = {derived.client_key, derived.server_key};
    }
    password_.clear();
    const sha256_hash stored_key = sha256_digest(keys.client_key);

    const bool binds =
        options_.channel_binding.mode == scram_channel_binding_mode::tls_server_end_point;
    std::string without_proof = "c=";
    without_proof +=
        base64_encode(channel_binding_input(gs2_header_, binds, options_.channel_binding.data));
    without_proof += ",r=";
    without_proof += *nonce;

    const std::string auth = auth_message(client_first_bare_, message, without_proof);
    const sha256_hash client_signature = hmac_sha256(stored_key, bytes_of(auth));
    const sha256_hash proof = xor_hashes(keys.client_key, client_signature);
    expected_server_signature_ = hmac_sha256(keys.server_key, bytes_of(auth));

    scram_result result;
    result.message = std::move(without_proof);
    result.message += ",p=";
    result.message += base64_encode(proof);
    state_ = state::awaiting_server_final;
    return result;
}

std::error_code scram_client::verify_server_final(std::string_view message) {
    if (state_ != state::awaiting_server_final) {
        return fail_step(errc::scram_out_of_order).error;
    }
    if (const std::error_code error = check_envelope(message)) {
        return fail_step(error).error;
    }
    // server-final-message = (server-error / verifier) ["," extensions]
    field_reader fields(message);
    const std::optional<std::string_view> field = fields.next();
    const std::optional<attribute> attr = field ? parse_attribute(*field) : std::nullopt;
    if (attr && attr->name == 'e') {
        server_error_ = std::string(attr->value);
        return fail_step(errc::scram_server_error).error;
    }
    if (!attr || attr->name != 'v' || !fields.at_end()) {
        return fail_step(errc::scram_malformed_message).error;
    }
    const std::optional<std::vector<std::uint8_t>> signature = base64_decode(attr->value);
    if (!signature) {
        return fail_step(errc::scram_malformed_message).error;
    }
    if (!constant_time_equal(*signature, expected_server_signature_)) {
        return fail_step(errc::scram_server_signature_mismatch).error;
    }
    state_ = state::complete;
    return {};
}

// ---- server --------------------------------------------------------------------------

scram_server::scram_server(scram_verifier verifier, const scram_nonce_bytes& random,
                           scram_server_options options)
    : scram_server(std::move(verifier), nonce_text{base64_encode(random)}, std::move(options)) {}

scram_server::scram_server(scram_verifier verifier, nonce_text server_nonce,
                           scram_server_options options)
    : verifier_(std::move(verifier)), server_nonce_(std::move(server_nonce.value)),
      options_(std::move(options)) {}

std::optional<scram_server> scram_server::with_nonce(scram_verifier verifier,
                                                     std::string_view server_nonce,
                                                     scram_server_options options) {
    if (!is_printable_nonce(server_nonce)) {
        return std::nullopt;
    }
    return scram_server(std::move(verifier), nonce_text{std::string(server_nonce)},
                        std::move(options));
}

scram_result scram_server::fail_step(std::error_code error) {
    state_ = state::failed;
    return scram_result{error, {}};
}

scram_result scram_server::handle_client_first(std::string_view message) {
    return first_step(std::nullopt, message);
}

scram_result scram_server::handle_client_first(std::string_view mechanism,
                                               std::string_view message) {
    if (state_ != state::awaiting_client_first) {
        return fail_step(errc::scram_out_of_order);
    }
    const std::optional<scram_mechanism> parsed = parse_scram_mechanism(mechanism);
    if (!parsed ||
        (*parsed == scram_mechanism::sha_256_plus && !options_.channel_binding_offered)) {
        return fail_step(errc::scram_unsupported_mechanism);
    }
    return first_step(parsed, message);
}

scram_result scram_server::first_step(std::optional<scram_mechanism> mechanism,
                                      std::string_view message) {
    if (state_ != state::awaiting_client_first) {
        return fail_step(errc::scram_out_of_order);
    }
    if (verifier_.iterations == 0 || verifier_.iterations > scram_max_verifier_iterations ||
        verifier_.salt.empty()) {
        return fail_step(errc::scram_invalid_verifier);
    }
    if (const std::error_code error = check_envelope(message)) {
        return fail_step(error);
    }

    // gs2-header = gs2-cbind-flag "," [authzid] ","
    field_reader fields(message);
    const std::optional<std::string_view> flag = fields.next();
    const std::optional<std::string_view> authzid = fields.next();
    if (!flag || !authzid) {
        return fail_step(errc::scram_malformed_message);
    }
    enum class binding_flag { n, y, p };
    binding_flag kind = binding_flag::n;
    if (*flag == "n") {
        kind = binding_flag::n;
    } else if (*flag == "y") {
        kind = binding_flag::y;
    } else if (const std::optional<attribute> attr = parse_attribute(*flag);
               attr && attr->name == 'p' && !attr->value.empty()) {
        kind = binding_flag::p;
    } else {
        return fail_step(errc::scram_malformed_message);
    }
    // An authorization identity (a=...) asks to act as another user; PostgreSQL has no
    // such notion and refuses it, so do we.
    if (!authzid->empty()) {
        return fail_step(errc::scram_malformed_message);
    }
    const std::size_t gs2_length = flag->size() + authzid->size() + 2;

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    // m= (a mandatory extension) is refused; the user name is accepted unchecked because
    // PostgreSQL ignores it in favour of the StartupMessage's; extensions are refused as
    // by PostgreSQL.
    const std::optional<std::string_view> user = expect_attribute(fields, 'n');
    if (!user) {
        return fail_step(errc::scram_malformed_message);
    }
    const std::optional<std::string_view> client_nonce = expect_attribute(fields, 'r');
    if (!client_nonce || !fields.at_end()) {
        return fail_step(errc::scram_malformed_message);
    }
    if (!is_printable_nonce(*client_nonce)) {
        return fail_step(errc::scram_nonce_mismatch);
    }

    // Channel-binding negotiation (RFC 5802 section 6 and PostgreSQL's rules).
    switch (kind) {
    case binding_flag::p:
        if (flag->substr(2) != scram_channel_binding_type || !options_.channel_binding_offered ||
            (mechanism && *mechanism != scram_mechanism::sha_256_plus)) {
            return fail_step(errc::scram_channel_binding_mismatch);
        }
        break;
    case binding_flag::y:
        // The client could have bound but believes we did not offer it: since we did,
        // someone removed PLUS from the mechanism list on the way.
        if (options_.channel_binding_offered ||
            (mechanism && *mechanism == scram_mechanism::sha_256_plus)) {
            return fail_step(errc::scram_channel_binding_mismatch);
        }
        break;
    case binding_flag::n:
        if (mechanism && *mechanism == scram_mechanism::sha_256_plus) {
            return fail_step(errc::scram_channel_binding_mismatch);
        }
        break;
    }

    gs2_header_ = std::string(message.substr(0, gs2_length));
    client_used_binding_ = kind == binding_flag::p;
    client_first_bare_ = std::string(message.substr(gs2_length));
    combined_nonce_ = std::string(*client_nonce) + server_nonce_;
    server_first_message_ = "r=" + combined_nonce_ + ",s=" + base64_encode(verifier_.salt) +
                            ",i=" + std::to_string(verifier_.iterations);
    state_ = state::awaiting_client_final;
    return scram_result{{}, server_first_message_};
}

scram_result scram_server::handle_client_final(std::string_view message) {
    if (state_ != state::awaiting_client_final) {
        return fail_step(errc::scram_out_of_order);
    }
    if (const std::error_code error = check_envelope(message)) {
        return fail_step(error);
    }
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const std::size_t last_comma = message.rfind(',');
    if (last_comma == std::string_view::npos) {
        return fail_step(errc::scram_malformed_message);
    }
    const std::string_view without_proof = message.substr(0, last_comma);
    const std::optional<attribute> proof_attr = parse_attribute(message.substr(last_comma + 1));
    if (!proof_attr || proof_attr->name != 'p') {
        return fail_step(errc::scram_malformed_message);
    }

    field_reader fields(without_proof);
    const std::optional<std::string_view> binding_text = expect_attribute(fields, 'c');
    if (!binding_text) {
        return fail_step(errc::scram_malformed_message);
    }
    const std::optional<std::string_view> nonce = expect_attribute(fields, 'r');
    if (!nonce) {
        return fail_step(errc::scram_malformed_message);
    }
    // Optional extensions, skipped like PostgreSQL does, but still well-formed ones.
    while (!fields.at_end()) {
        const std::optional<std::string_view> field = fields.next();
        const std::optional<attribute> ext = field ? parse_attribute(*field) : std::nullopt;
        if (!ext || ext->name == 'p' || ext->value.empty()) {
            return fail_step(errc::scram_malformed_message);
        }
    }

    const std::optional<std::vector<std::uint8_t>> binding = base64_decode(*binding_text);
    if (!binding) {
        return fail_step(errc::scram_malformed_message);
    }
    const std::string expected_binding =
        channel_binding_input(gs2_header_, client_used_binding_, options_.channel_binding_data);
    if (!std::equal(binding->begin(), binding->end(), bytes_of(expected_binding).begin(),
                    bytes_of(expected_binding).end())) {
        return fail_step(errc::scram_channel_binding_mismatch);
    }
    if (*nonce != combined_nonce_) {
        return fail_step(errc::scram_nonce_mismatch);
    }
    const std::optional<sha256_hash> proof = decode_hash(proof_attr->value);
    if (!proof) {
        return fail_step(errc::scram_malformed_message);
    }

    // ClientKey = proof XOR HMAC(StoredKey, AuthMessage); valid iff H(ClientKey) == StoredKey.
    const std::string auth = auth_message(client_first_bare_, server_first_message_, without_proof);
    const sha256_hash client_signature = hmac_sha256(verifier_.stored_key, bytes_of(auth));
    const sha256_hash client_key = xor_hashes(*proof, client_signature);
    if (!constant_time_equal(sha256_digest(client_key), verifier_.stored_key)) {
        return fail_step(errc::scram_invalid_proof);
    }
    const sha256_hash server_signature = hmac_sha256(verifier_.server_key, bytes_of(auth));
    state_ = state::authenticated;
    return scram_result{{}, "v=" + base64_encode(server_signature)};
}

} // namespace qail::protocol
