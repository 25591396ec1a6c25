// Messages the proxy itself sends to clients (see wire.hpp).
#include "session/wire.hpp"

#include <qail/protocol/error_response.hpp>
#include <qail/protocol/startup.hpp>

#include <cctype>

namespace qail::proxy::wire {

namespace proto = qail::protocol;

void error(std::string& out, std::string_view severity, std::string_view sqlstate,
           std::string_view message, std::string_view detail) {
    proto::writer w(out);
    proto::error_response e;
    e.fields.severity = severity;
    e.fields.severity_nonlocalized = severity;
    e.fields.sqlstate = sqlstate;
    e.fields.message = message;
    e.fields.detail = detail;
    proto::encode(w, e);
}

void ready(std::string& out, char status) {
    proto::writer w(out);
    const std::size_t mark = w.begin_message('Z');
    w.put_char(status);
    w.end_message(mark);
}

void parameter_status(std::string& out, std::string_view name, std::string_view value) {
    proto::writer w(out);
    proto::encode(w, proto::parameter_status{name, value});
}

void backend_key(std::string& out, std::int32_t pid, std::string_view key) {
    proto::writer w(out);
    proto::encode(w, proto::backend_key_data{pid, key});
}

std::string_view error_sqlstate(std::string_view body) noexcept {
    return error_field(body, 'C');
}

std::string_view error_field(std::string_view body, char field) noexcept {
    std::size_t i = 0;
    while (i < body.size() && body[i] != '\0') {
        const char code = body[i++];
        const std::size_t end = body.find('\0', i);
        if (end == std::string_view::npos)
            return {};
        if (code == field)
            return body.substr(i, end - i);
        i = end + 1;
    }
    return {};
}

bool starts_with_keyword(std::string_view sql, std::string_view word) noexcept {
    std::size_t i = 0;
    for (;;) {
        while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i])) != 0)
            ++i;
        if (sql.substr(i, 2) == "--") {
            const std::size_t nl = sql.find('\n', i);
            if (nl == std::string_view::npos)
                return false;
            i = nl + 1;
            continue;
        }
        if (sql.substr(i, 2) == "/*") {
            const std::size_t end = sql.find("*/", i + 2);
            if (end == std::string_view::npos)
                return false;
            i = end + 2;
            continue;
        }
        break;
    }
    if (sql.size() - i < word.size())
        return false;
    for (std::size_t k = 0; k < word.size(); ++k)
        if (std::tolower(static_cast<unsigned char>(sql[i + k])) !=
            std::tolower(static_cast<unsigned char>(word[k])))
            return false;
    if (i + word.size() == sql.size())
        return true;
    const auto next = static_cast<unsigned char>(sql[i + word.size()]);
    return std::isalnum(next) == 0 && next != '_';
}

} // namespace qail::proxy::wire
