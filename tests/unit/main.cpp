// Entry point of the unit-test executable. ctest runs one test case per process
// (selected with --test-case); a selection that matches nothing must fail, not pass.
#define DOCTEST_CONFIG_IMPLEMENT
#include "test_main.hpp"
