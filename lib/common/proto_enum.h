/*
 * proto_enum — the proto's enums (Partitioner, ...) by the names people write in job
 * graphs and messages ("hash" for HASH), read from the generated protobuf-c
 * descriptors, so the .proto is the one list of each set: a value added there is
 * parsed, named and accepted everywhere without another table to edit.
 *
 * Value 0 of an enum is its UNSPECIFIED (proto3's default) and never a valid choice.
 *
 * Threading: pure; any thread. No state.
 */
#ifndef TE_PROTO_ENUM_H
#define TE_PROTO_ENUM_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* The value named `name` (case-insensitive: "hash" or "HASH"), or -1 when none is. */
int proto_enum_parse(const ProtobufCEnumDescriptor *d, const char *name);
/* 1 when `value` is a named value of the enum other than 0. */
int proto_enum_valid(const ProtobufCEnumDescriptor *d, int value);
/* The lower-case name of `value` written into buf ("?" when unknown); returns buf. */
const char *proto_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t len);
/* Every valid name, lower case, for messages: "forward, rebalance, rescale, hash or
 * broadcast" (truncated to len). Returns buf. */
const char *proto_enum_names(const ProtobufCEnumDescriptor *d, char *buf, size_t len);

#endif
