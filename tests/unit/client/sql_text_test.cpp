// touches_prepared_statements: the look at SQL text that decides whether a smart reset
// must be DISCARD ALL (prepared statements may have been created or dropped by name) or
// may keep the statements it prepared.
#include "test_support.hpp"

#include <qail/client/sql_text.hpp>

#include <string>
#include <string_view>

namespace qail::client {

TEST_CASE("sql text: PREPARE or DEALLOCATE in any case and anywhere counts") {
    for (const std::string_view sql :
         {"PREPARE p AS SELECT 1", "prepare p(int) AS SELECT $1", "PrEpArE x AS SELECT 1",
          "  \n\tPREPARE p AS SELECT 1", "SELECT 1;PREPARE p AS SELECT 2",
          "/* c */PREPARE p AS SELECT 1", "PREPARE\"p\"AS SELECT 1",
          // dynamic SQL in a DO block, in single and dollar quotes
          "DO $$BEGIN EXECUTE 'PREPARE p AS SELECT 1'; END$$",
          "DO $$BEGIN EXECUTE $q$PREPARE p AS SELECT 1$q$; END$$",
          // DEALLOCATE may drop the statements a smart reset keeps
          "DEALLOCATE p", "deallocate all", "DEALLOCATE PREPARE p",
          "DO $$BEGIN EXECUTE 'DEALLOCATE ALL'; END$$",
          // over-approximations that are harmless: a DISCARD ALL too many
          "SELECT 'prepare'", "SELECT 1 AS \"prepare\"", "prepare", "deallocate"}) {
        INFO(std::string(sql));
        CHECK(touches_prepared_statements(sql));
    }
}

TEST_CASE("sql text: neither word, no prepared statement created or dropped by name") {
    for (const std::string_view sql :
         {"", "p", "prepar", "SELECT 1", "SELECT prepared_at FROM orders",
          "UPDATE t SET preparer = 1", "SELECT xprepare", "SELECT prepare1", "SELECT _prepare",
          "SELECT prepare_", "EXECUTE p", "SELECT 'prepa' || 're'", "SELECT deallocated",
          "DISCARD ALL", "SELECT xdeallocate"}) {
        INFO(std::string(sql));
        CHECK_FALSE(touches_prepared_statements(sql));
    }
}

TEST_CASE("sql text: bytes that fold onto the letters only by bit 5 do not count") {
    // 0x50 is 'P'; 0x10 | 0x20 is 0x30 ('0'), not 'p': only letters fold onto letters.
    CHECK_FALSE(touches_prepared_statements("\x10rEPARE"));
    CHECK_FALSE(touches_prepared_statements("pr\xc5pare"));
    // A multibyte letter before or after is not an ASCII word character: it counts
    // (conservative, and no SQL keyword is glued to one).
    CHECK(touches_prepared_statements("\xc3\xa9prepare"));
}

} // namespace qail::client
