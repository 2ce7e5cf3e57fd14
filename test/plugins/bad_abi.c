/*
 * bad_abi — a test plugin declaring an operator ABI version from the future; the
 * loader must refuse it with a message naming both versions.
 * Threading: none (never runs).
 */
#include "te/operator.h"

static const te_operator_def_t FUTURE = {
    .abi_version = 999,
    .name = "future",
    .kind = TE_OP_ONE_INPUT,
};

const te_operator_def_t *te_operator_plugin_entry(void) { return &FUTURE; }
