// touches_prepared_statements: the look at SQL text that decides whether a smart reset
// must be DISCARD ALL (prepared statements may have been created or dropped by name) or
// may keep the statements it prepared.
#include "test_support.hpp"

#include <qail/client/sql_text.hpp>

#include <random>
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

TEST_CASE("sql text: the vectorised scan answers as the byte-wise one, at every offset") {
    // Words placed at every offset around the 16-byte blocks, with word and non-word
    // neighbours, and bytes that fold onto the letters only by bit 5.
    for (std::size_t at = 0; at < 40; ++at) {
        for (const std::string_view word : {"prepare", "PrEpArE", "deallocate", "prepared",
                                            "xprepare", "p\x10repare", "d", "DEALLOCATE_"}) {
            for (const char before : {' ', 'x', '_', '\xc3'}) {
                std::string sql(at, '.');
                if (at > 0)
                    sql[at - 1] = before;
                sql.append(word);
                for (const std::string_view tail : {"", " ", "1", "...................."}) {
                    const std::string t = sql + std::string(tail);
                    INFO(t);
                    CHECK(touches_prepared_statements(t) ==
                          touches_prepared_statements_bytewise(t));
                }
            }
        }
    }
    std::mt19937 rng(20261201);
    const std::string_view alphabet = "pPdDrReEaAlLcCoOtT _1.'$\x10\x50\x70";
    for (int n = 0; n < 20000; ++n) {
        std::string t = test::random_text(rng, alphabet, 69);
        if (rng() % 4 == 0)
            t.insert(rng() % (t.size() + 1), rng() % 2 == 0 ? "prepare" : "deallocate");
        INFO(t);
        REQUIRE(touches_prepared_statements(t) == touches_prepared_statements_bytewise(t));
    }
}

} // namespace qail::client
