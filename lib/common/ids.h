/*
 * ids — 16-byte identifiers (JobID, ExecutionAttemptID, AllocationID, partition ids),
 * printed as 32 lower-case hex characters.
 *
 * Threading: pure, except te_id_random which reads /dev/urandom (thread-safe).
 */
#ifndef TE_IDS_H
#define TE_IDS_H

#include <stddef.h>
#include <stdint.h>

#define TE_ID_LEN     16
#define TE_ID_HEX_LEN 32

typedef struct te_id {
    uint8_t b[TE_ID_LEN];
} te_id_t;

/* out must hold TE_ID_HEX_LEN + 1 bytes. Returns out. */
char *te_id_to_hex(const te_id_t *id, char *out);
/* Parses exactly 32 hex chars. Returns 0 on success, -1 otherwise. */
int te_id_from_hex(const char *hex, te_id_t *out);
/* Copies exactly 16 bytes from a wire field; returns -1 when len != 16. */
int te_id_from_bytes(const void *data, size_t len, te_id_t *out);
void te_id_random(te_id_t *out);
int te_id_equal(const te_id_t *a, const te_id_t *b);
int te_id_is_zero(const te_id_t *id);
uint64_t te_id_hash(const te_id_t *id);

/* Convenience for log lines: a thread-local rotating buffer, valid until 8 more calls. */
const char *te_id_str(const te_id_t *id);

#endif
