/*
 * task_schema — the schemas of one deployment (proto/ROWS.md): the rows each input
 * gate delivers (the TDD's InputGateDeploymentDescriptor.schema; absent = text, one
 * string field), the chain's own derivation from them (every operator's setup, as the
 * scheduler ran it), and the checks that the two agree: each operator's output and
 * side-output schemas against OperatorConfig's, each produced partition's against what
 * the chain emits there, each hash key field inside its schema. A difference is an
 * INVALID_CHAIN error naming the operator or partition, the field and both schemas.
 * Also the typed key of every HASH partition, for its channel selector.
 *
 * Threading: the control thread, at SubmitTask; the result is read-only afterwards.
 */
#ifndef TE_TASK_SCHEMA_H
#define TE_TASK_SCHEMA_H

#include <stddef.h>

#include "common/te_status.h"
#include "runtime/stream_task.h"
#include "tdd.pb-c.h"
#include "te/row.h"

typedef struct te_task_schemas {
    te_schema_t *input[2]; /* owned; NULL = the task has no such input */
    te_row_key_t *keys;    /* per produced partition: its typed key, n = 0 for none (not HASH, or text) */
    size_t n_keys;
} te_task_schemas_t;

/* Derives and checks (see above) with the chain whose definitions are resolved. On
 * failure, EINVAL with the reason in err and *out released. */
te_status_t task_schemas_derive(const Te__TaskDeploymentDescriptor *tdd, const te_chain_op_config_t *chain,
                                size_t n_chain, te_task_schemas_t *out, te_error_t *err);
void task_schemas_release(te_task_schemas_t *s);

/* A Schema message as a te_schema_t (owned; schema_free), validated. NULL with err. */
te_schema_t *task_schema_from_proto(const Te__Schema *ps, te_error_t *err);

#endif
