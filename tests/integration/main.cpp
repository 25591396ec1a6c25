// Entry point of the integration-test executable (needs the pg-cluster harness running).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
