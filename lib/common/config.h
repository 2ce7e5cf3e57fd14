/*
 * config — flat Flink-style configuration (`taskmanager.numberOfTaskSlots: 4`) read
 * from a YAML file with libyaml, overridden by `-D key=value`. Every key is declared
 * once, in config_keys.def, with its type, default, allowed range and documentation;
 * the key table, the TE_KEY_* constants the getters take, the shipped
 * conf/taskexecutor.yaml, the man page and the README's key table are generated from /
 * checked against it.
 *
 * Sizes accept b, kb, mb, gb (also k/m/g, kib/mib/gib; binary multiples); durations
 * ms, s, min, h (a bare number = ms). An unknown key is a warning naming the key; a
 * bad value is an error naming the key, the value and what is allowed.
 *
 * Threading: built by main before any thread starts, read-only afterwards (SIGHUP
 * reloads build a new te_config_t and swap it on the control thread).
 */
#ifndef TE_CONFIG_H
#define TE_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "common/te_status.h"

typedef enum te_config_type {
    TE_CFG_INT,      /* integer within [min, max] */
    TE_CFG_SIZE,     /* bytes, "32kb" */
    TE_CFG_DURATION, /* milliseconds, "100ms", "10s"; may allow -1 (see min) */
    TE_CFG_STRING,
    TE_CFG_BOOL, /* true/false */
    TE_CFG_PORT, /* 0..65535, 0 = ephemeral */
    TE_CFG_ENUM, /* one of `choices` ("a|b|c") */
} te_config_type_t;

typedef struct te_config_key {
    const char *name;
    te_config_type_t type;
    const char *default_value; /* as written in the file */
    int64_t min, max;          /* INT / SIZE / DURATION bounds */
    const char *choices;       /* ENUM: "debug|info|warn|error" */
    int live;                  /* 1 = can change on SIGHUP without a restart */
    const char *doc;           /* one line */
} te_config_key_t;

typedef struct te_config te_config_t;

/* One constant per key (TE_KEY_HEARTBEAT_TIMEOUT for heartbeat.timeout), in table
 * order: the TaskExecutor's keys (config_keys.def), then the JobManager's own
 * (config_keys_jobmanager.def). The getters take these, so a misspelt key fails to
 * compile. */
typedef enum te_config_key_id {
#define CONFIG_KEY(id, ...) TE_KEY_##id,
#include "common/config_keys.def"
#include "common/config_keys_jobmanager.def"
#undef CONFIG_KEY
    TE_KEY_COUNT
} te_config_key_id_t;

/* The name of a key ("heartbeat.timeout"), e.g. for messages and job configuration. */
const char *config_key_name(te_config_key_id_t key);

/* Which daemon a configuration is for: its keys, --print-defaults, unknown-key
 * warnings. The TaskExecutor's set is config_keys.def; the JobManager's holds its own
 * keys (config_keys_jobmanager.def) and the TaskExecutor keys both daemons read
 * (logging, heartbeats, security, checkpoints). */
typedef enum te_config_set {
    TE_CONFIG_TASKEXECUTOR = 0,
    TE_CONFIG_JOBMANAGER,
} te_config_set_t;

/* The table of known keys of both daemons, indexed by te_config_key_id_t (terminated
 * by a {NULL} entry). */
const te_config_key_t *config_keys(void);
/* 1 when a configuration of `set` holds the key. */
int config_key_in_set(te_config_set_t set, te_config_key_id_t key);
/* The table entry of `name`, or NULL when the key is unknown. */
const te_config_key_t *config_key_find(const char *name);

te_config_t *config_new(void); /* every TaskExecutor key at its default */
te_config_t *config_new_for(te_config_set_t set);
void config_free(te_config_t *c);

/* Reads a YAML mapping of flat keys (nested mappings are flattened with '.', as Flink's
 * config.yaml allows). Unknown keys log a warning. Error names file:line, key, value. */
te_status_t config_load_file(te_config_t *c, const char *path, te_error_t *err);
/* Sets one key from text (used by the file loader and by -D). Validates. */
te_status_t config_set(te_config_t *c, const char *key, const char *value, te_error_t *err);
/* Parses "key=value" (the -D argument form). */
te_status_t config_set_kv(te_config_t *c, const char *kv, te_error_t *err);

/* Typed getters. A getter of the wrong type for the key is a programming error: it
 * logs and returns 0 / "". */
int64_t config_get_int(const te_config_t *c, te_config_key_id_t key); /* INT, PORT, SIZE (bytes), DURATION (ms) */
const char *config_get_str(const te_config_t *c, te_config_key_id_t key); /* STRING, ENUM, or any key's raw text */
int config_get_bool(const te_config_t *c, te_config_key_id_t key);

/* Pure parsers, exposed for tests and for job configuration values. */
te_status_t config_parse_size(const char *s, int64_t *out);
te_status_t config_parse_duration(const char *s, int64_t *out_ms);

/* Writes the documented default file (every key, its doc and default). */
void config_write_defaults(FILE *out);
/* Writes the README's key table (markdown: key, default, live, meaning) from the same
 * table, between the README's `<!-- keys -->` markers (a test compares them). */
void config_write_readme_keys(FILE *out);
void config_write_defaults_for(te_config_set_t set, FILE *out);
/* Writes the key reference of taskexecutor.yaml(5) as roff (.TP entries: name, doc,
 * type, allowed values, default, live or restart) from the same table. */
void config_write_man_keys(FILE *out);

/* Reload support (SIGHUP). config_diff calls fn for every key whose value differs
 * between a and b (numbers compared by value, so "10s" equals "10000ms"; strings by
 * text) and returns how many differ. The values are borrowed for the call. */
typedef void (*te_config_diff_fn)(void *arg, const te_config_key_t *key, const char *old_value,
                                  const char *new_value);
int config_diff(const te_config_t *a, const te_config_t *b, te_config_diff_fn fn, void *arg);
/* A new config: `cur` with every live key (key->live) taken from `next` — what the
 * daemon runs with after a reload (restart-only keys keep their old values). NULL when
 * out of memory. The caller owns the result. */
te_config_t *config_merge_live(const te_config_t *cur, const te_config_t *next);

#endif
