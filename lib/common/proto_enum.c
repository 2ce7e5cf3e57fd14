/*
 * proto_enum — names of proto enum values from protobuf-c descriptors (lower-cased
 * for people, matched case-insensitively).
 *
 * Threading: pure; any thread. No locks.
 */
#include "common/proto_enum.h"

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

int proto_enum_parse(const ProtobufCEnumDescriptor *d, const char *name)
{
    if (name == NULL)
        return -1;
    for (unsigned i = 0; i < d->n_values; i++)
        if (d->values[i].value != 0 && strcasecmp(d->values[i].name, name) == 0)
            return d->values[i].value;
    return -1;
}

int proto_enum_valid(const ProtobufCEnumDescriptor *d, int value)
{
    return value != 0 && protobuf_c_enum_descriptor_get_value(d, value) != NULL;
}

static void lower_into(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < len; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[i] = '\0';
}

const char *proto_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    lower_into(v != NULL && value != 0 ? v->name : "?", buf, len);
    return buf;
}

const char *proto_enum_names(const ProtobufCEnumDescriptor *d, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    buf[0] = '\0';
    unsigned n = 0, total = 0;
    for (unsigned i = 0; i < d->n_values; i++)
        total += d->values[i].value != 0;
    size_t off = 0;
    for (unsigned i = 0; i < d->n_values && off + 1 < len; i++) {
        if (d->values[i].value == 0)
            continue;
        const char *sep = n == 0 ? "" : n + 1 == total ? " or " : ", ";
        int w = snprintf(buf + off, len - off, "%s", sep);
        if (w < 0 || (size_t)w >= len - off)
            break;
        off += (size_t)w;
        lower_into(d->values[i].name, buf + off, len - off);
        while (buf[off] != '\0')
            off++;
        n++;
    }
    return buf;
}
