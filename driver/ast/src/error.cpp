// The qail.ast error category and error messages.
#include <qail/ast/error.hpp>

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

namespace qail::ast {
namespace {

class ast_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "qail.ast"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::ok:
            return "success";
        case errc::invalid_json:
            return "invalid JSON";
        case errc::limit_exceeded:
            return "limit exceeded";
        case errc::unknown_field:
            return "unknown field";
        case errc::missing_field:
            return "missing field";
        case errc::duplicate_field:
            return "duplicate field";
        case errc::wrong_type:
            return "wrong JSON type";
        case errc::unknown_variant:
            return "unknown variant";
        case errc::unsupported:
            return "unsupported node";
        case errc::forbidden:
            return "not allowed from untrusted clients";
        case errc::invalid_identifier:
            return "invalid identifier";
        case errc::embedded_nul:
            return "NUL byte in text";
        case errc::invalid_value:
            return "invalid value";
        case errc::invalid_ast:
            return "invalid AST";
        case errc::io_error:
            return "could not read the AST";
        }
        return "unknown qail.ast error";
    }
};

} // namespace

const boost::system::error_category& ast_category() noexcept {
    static const ast_category_impl instance;
    return instance;
}

std::string error::message() const {
    if (path.empty())
        return detail;
    return path + ": " + detail;
}

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(make_error_code(e.code), e.message()), loc);
}

} // namespace qail::ast
