/*
 * crc32c — CRC-32C (Castagnoli), the checksum of snapshot files: with the SSE 4.2
 * crc32 instruction when the CPU has it (8 bytes per instruction), else a table; and
 * crc32c_combine, the checksum of a concatenation from the checksums of its parts,
 * so a file written as a stream whose headers are filled in afterwards (lengths known
 * only at the end) still gets its checksums without reading anything back.
 *
 * Threading: pure (tables are built before main).
 */
#ifndef TE_CRC32C_H
#define TE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of data, continuing from crc (start with 0). */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);
/* crc32c(A || B) from crc1 = crc32c(A), crc2 = crc32c(B) and len2 = |B|. */
uint32_t crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

#endif
