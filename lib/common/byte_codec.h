/*
 * byte_codec — little-endian integers and varints (7 bits a byte, low group first,
 * high bit = more) in byte buffers: the building blocks of the snapshot formats; and
 * small copies without a call. Header-only.
 *
 * Threading: pure.
 */
#ifndef TE_BYTE_CODEC_H
#define TE_BYTE_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/compiler.h"

/* Copies n <= 32 bytes without a call: two overlapping loads and stores of the
 * largest power of two not above n, so a short header, payload or value costs a few
 * instructions. Everything is loaded before anything is stored: d and s may overlap. */
static TE_ALWAYS_INLINE void byte_copy_small(uint8_t *d, const uint8_t *s, uint32_t n)
{
    if (n >= 16) {
        uint8_t a[16], z[16];
        memcpy(a, s, 16);
        memcpy(z, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, z, 16);
    } else if (n >= 8) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &z, 8);
    } else if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &z, 4);
    } else if (n > 0) {
        uint8_t a = s[0], m = s[n >> 1], z = s[n - 1];
        d[0] = a;
        d[n >> 1] = m;
        d[n - 1] = z;
    }
}

/* A key of n <= 16 bytes as two words (overlapping loads; with n, they determine every
 * byte, so two keys of one length are equal exactly when their words are). */
static inline void byte_key_words(const uint8_t *p, uint32_t n, uint64_t w[2])
{
    uint32_t a, z;
    w[1] = 0;
    if (n >= 8) {
        memcpy(&w[0], p, 8);
        memcpy(&w[1], p + n - 8, 8);
    } else if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&z, p + n - 4, 4);
        w[0] = (uint64_t)a | (uint64_t)z << 32;
    } else {
        w[0] = n ? (uint64_t)p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16 : 0;
    }
}

/* a[0..n) == b[0..n): up to 16 bytes by their words (no call), longer by memcmp. */
static inline int byte_equal(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    uint64_t x[2], y[2];
    byte_key_words(a, n, x);
    byte_key_words(b, n, y);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1])) == 0;
}

/* The index of the first byte c in the 8 bytes of x (little endian: byte 0 first), or
 * 8. The lowest bit set by the zero-byte test marks a zero byte of x ^ c...c exactly
 * (a borrow can only set bits above a true zero). */
static inline uint32_t byte_find_word(uint64_t x, uint8_t c)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t t = x ^ (c * ones), m = (t - ones) & ~t & highs;
    return m ? (uint32_t)__builtin_ctzll(m) / 8 : 8;
}

/* The index of the first byte c in p[0..n) for n <= 16, or n when there is none:
 * overlapping loads (as byte_key_words), no call. */
static inline uint32_t byte_find_small(const uint8_t *p, uint32_t n, uint8_t c)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t i;
    if (n >= 8) {
        uint64_t a, z;
        memcpy(&a, p, 8);
        memcpy(&z, p + n - 8, 8);
        if ((i = byte_find_word(a, c)) < 8)
            return i;
        return (i = byte_find_word(z, c)) < 8 ? n - 8 + i : n;
    }
    if (n >= 4) {
        uint32_t a, z;
        memcpy(&a, p, 4);
        memcpy(&z, p + n - 4, 4);
        uint64_t pad = (uint64_t)(uint8_t)~c * 0x01010101ull << 32; /* bytes 4..7: never c */
        if ((i = byte_find_word(a | pad, c)) < 4)
            return i;
        return (i = byte_find_word(z | pad, c)) < 4 ? n - 4 + i : n;
    }
#endif
    for (uint32_t k = 0; k < n; k++)
        if (p[k] == c)
            return k;
    return n;
}

static inline void byte_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void byte_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void byte_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t byte_get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t byte_get_le64(const uint8_t *p)
{
    return (uint64_t)byte_get_le32(p) | (uint64_t)byte_get_le32(p + 4) << 32;
}

/* Writes v (at most 5 bytes); returns the bytes written. */
static inline size_t byte_put_varint(uint8_t *p, uint32_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static inline size_t byte_varint_len(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Reads a varint from the avail bytes at p: the bytes it took, 0 when it is cut short
 * or longer than a uint32_t. */
static inline size_t byte_get_varint(const uint8_t *p, size_t avail, uint32_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < avail && i < 5; i++) {
        x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            if (x > UINT32_MAX)
                return 0;
            *v = (uint32_t)x;
            return i + 1;
        }
    }
    return 0;
}

#endif
