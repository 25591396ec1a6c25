// The error category of the wire codec: human-readable text for each errc.
#include <qail/protocol/error.hpp>

namespace qail::protocol {
namespace {

class protocol_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "qail.protocol"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::ok:
            return "success";
        case errc::length_too_short:
            return "message length below its minimum";
        case errc::message_too_large:
            return "message length exceeds the configured maximum";
        case errc::negative_count:
            return "negative count field";
        case errc::invalid_value_length:
            return "value length below -1";
        case errc::truncated_field:
            return "field runs past the end of the message";
        case errc::missing_terminator:
            return "string without NUL terminator";
        case errc::trailing_bytes:
            return "unexpected bytes after the last field";
        case errc::unknown_message_type:
            return "unknown message type";
        case errc::unknown_auth_type:
            return "unknown authentication request type";
        case errc::unknown_request_code:
            return "unknown startup request code";
        case errc::invalid_field_value:
            return "field value outside its defined set";
        case errc::invalid_key_length:
            return "cancel key length outside 4..256 bytes";
        case errc::invalid_startup_parameters:
            return "malformed startup parameter list";
        case errc::embedded_nul:
            return "string contains a NUL byte";
        case errc::scram_malformed_message:
            return "malformed SCRAM message";
        case errc::scram_nonce_mismatch:
            return "SCRAM nonce mismatch or invalid nonce";
        case errc::scram_invalid_iterations:
            return "invalid SCRAM iteration count";
        case errc::scram_invalid_salt:
            return "invalid SCRAM salt";
        case errc::scram_server_signature_mismatch:
            return "SCRAM server signature mismatch";
        case errc::scram_invalid_proof:
            return "SCRAM client proof does not verify";
        case errc::scram_server_error:
            return "SCRAM server reported an error";
        case errc::scram_channel_binding_mismatch:
            return "SCRAM channel binding mismatch";
        case errc::scram_unsupported_mechanism:
            return "unsupported SASL mechanism";
        case errc::scram_invalid_verifier:
            return "malformed SCRAM verifier";
        case errc::scram_out_of_order:
            return "SCRAM exchange step out of order";
        }
        return "unknown qail.protocol error";
    }
};

} // namespace

const std::error_category& protocol_category() noexcept {
    static const protocol_category_impl instance;
    return instance;
}

} // namespace qail::protocol
