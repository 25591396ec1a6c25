// Shared main() for the doctest executables: fails when the run executed no test
// case, so a ctest entry whose filter matches nothing can never count as passing.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <iostream>

namespace qail::test {

inline std::atomic<int> test_cases_started{0};

struct started_counter : doctest::IReporter {
    explicit started_counter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override { ++test_cases_started; }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

} // namespace qail::test

REGISTER_LISTENER("qail_started_counter", 1, qail::test::started_counter);

int main(int argc, char** argv) {
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    const int rc = context.run();
    if (context.shouldExit())
        return rc; // --help, --list-test-cases, ...
    if (rc == 0 && qail::test::test_cases_started == 0) {
        std::cerr << "error: no test case matched the selection\n";
        return 1;
    }
    return rc;
}
