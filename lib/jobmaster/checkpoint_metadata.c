/*
 * checkpoint_metadata — writes, reads, lists and prunes the `_metadata` files of
 * completed checkpoints (format and layout in checkpoint_metadata.h). JSON through
 * jansson; atomic replacement through write-temp + fsync + rename + fsync(dir).
 *
 * Threading: pure functions over the file system; no shared state, no locks.
 */
#define _GNU_SOURCE
#include "jobmaster/checkpoint_metadata.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/file_io.h"
#include "common/log.h"

#define METADATA_FORMAT   1
#define CHECKSUM_KEY      "checksum"
#define CHECKSUM_PREFIX   "sha256:"
#define CHECKSUM_TEXT_LEN (sizeof(CHECKSUM_PREFIX) - 1 + 64)

void checkpoint_metadata_handle_clear(te_ckpt_handle_t *h)
{
    if (h == NULL)
        return;
    free(h->path);
    free(h->key_groups);
    for (size_t i = 0; i < h->n_shared; i++)
        free(h->shared[i].path);
    free(h->shared);
    memset(h, 0, sizeof(*h));
}

te_status_t checkpoint_metadata_handle_copy(te_ckpt_handle_t *dst, const te_ckpt_handle_t *src, te_error_t *err)
{
    memset(dst, 0, sizeof(*dst));
    dst->size = src->size;
    dst->subtask_index = src->subtask_index;
    dst->parallelism = src->parallelism;
    dst->path = strdup(src->path ? src->path : "");
    if (src->n_key_groups > 0) {
        dst->key_groups = malloc(src->n_key_groups * sizeof(uint32_t));
        if (dst->key_groups != NULL) {
            memcpy(dst->key_groups, src->key_groups, src->n_key_groups * sizeof(uint32_t));
            dst->n_key_groups = src->n_key_groups;
        }
    }
    int oom = dst->path == NULL || (src->n_key_groups > 0 && dst->key_groups == NULL);
    if (!oom && src->n_shared > 0) {
        if ((dst->shared = calloc(src->n_shared, sizeof(*dst->shared))) == NULL)
            oom = 1;
        for (size_t i = 0; !oom && i < src->n_shared; i++) {
            dst->shared[i].size = src->shared[i].size;
            if ((dst->shared[i].path = strdup(src->shared[i].path ? src->shared[i].path : "")) == NULL)
                oom = 1;
            dst->n_shared = i + 1;
        }
    }
    if (oom) {
        checkpoint_metadata_handle_clear(dst);
        return te_error_set(err, TE_ENOMEM, "out of memory copying a state handle");
    }
    return TE_OK;
}

static void vertex_clear(te_ckpt_vertex_t *v)
{
    free(v->id);
    free(v->vertex_id);
    for (size_t i = 0; i < v->n_handles; i++)
        checkpoint_metadata_handle_clear(&v->handles[i]);
    free(v->handles);
}

void checkpoint_metadata_free(te_ckpt_metadata_t *m)
{
    if (m == NULL)
        return;
    free(m->job_id);
    free(m->job_name);
    free(m->job_graph);
    for (size_t i = 0; i < m->n_vertices; i++)
        vertex_clear(&m->vertices[i]);
    free(m->vertices);
    free(m->dir);
    free(m);
}

void checkpoint_metadata_list_free(te_ckpt_metadata_t **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        checkpoint_metadata_free(list[i]);
    free(list);
}

char *checkpoint_metadata_chk_dir(const char *job_dir, uint64_t id, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/chk-%" PRIu64, job_dir, id);
    return n < 0 || (size_t)n >= cap ? NULL : buf;
}

/* ---- write -------------------------------------------------------------------- */

static json_t *handle_to_json(const te_ckpt_handle_t *h)
{
    json_t *kg = json_array();
    for (size_t i = 0; kg != NULL && i < h->n_key_groups; i++)
        json_array_append_new(kg, json_integer(h->key_groups[i]));
    json_t *j = json_pack("{s:s, s:I, s:o, s:I, s:I}", "path", h->path ? h->path : "", "size", (json_int_t)h->size,
                          "key_groups", kg, "subtask_index", (json_int_t)h->subtask_index, "parallelism",
                          (json_int_t)h->parallelism);
    if (j != NULL && h->n_shared > 0) {
        json_t *sh = json_array();
        for (size_t i = 0; sh != NULL && i < h->n_shared; i++)
            json_array_append_new(
                sh, json_pack("{s:s, s:I}", "path", h->shared[i].path, "size", (json_int_t)h->shared[i].size));
        json_object_set_new(j, "shared", sh);
    }
    return j;
}

static json_t *metadata_to_json(const te_ckpt_metadata_t *m, te_error_t *err)
{
    json_error_t jerr;
    json_t *graph = json_loads(m->job_graph ? m->job_graph : "", 0, &jerr);
    if (graph == NULL) {
        te_error_set(err, TE_EINVAL, "checkpoint %" PRIu64 ": the job graph is not JSON: %s (line %d)",
                     m->checkpoint_id, jerr.text, jerr.line);
        return NULL;
    }
    json_t *vs = json_array();
    for (size_t i = 0; vs != NULL && i < m->n_vertices; i++) {
        const te_ckpt_vertex_t *v = &m->vertices[i];
        json_t *hs = json_array();
        for (size_t k = 0; hs != NULL && k < v->n_handles; k++)
            json_array_append_new(hs, handle_to_json(&v->handles[k]));
        json_array_append_new(vs, json_pack("{s:s, s:s, s:I, s:o}", "id", v->id ? v->id : "", "vertex_id",
                                            v->vertex_id ? v->vertex_id : "", "parallelism",
                                            (json_int_t)v->parallelism, "handles", hs));
    }
    json_t *doc =
        json_pack("{s:i, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "format", METADATA_FORMAT, "job_id",
                  m->job_id ? m->job_id : "", "job_name", m->job_name ? m->job_name : "", "max_parallelism",
                  (json_int_t)m->max_parallelism, "checkpoint_id", (json_int_t)m->checkpoint_id, "timestamp",
                  (json_int_t)m->timestamp_ms, "duration_ms", (json_int_t)m->duration_ms, "state_size",
                  (json_int_t)m->state_size, "job_graph", graph, "vertices", vs);
    if (doc == NULL)
        te_error_set(err, TE_ENOMEM, "out of memory building the metadata of checkpoint %" PRIu64,
                     m->checkpoint_id);
    return doc;
}

/* "sha256:<64 hex>" of the document's canonical text (compact, keys sorted, without
 * its checksum member) into out. -1 when out of memory. */
static int checksum_of(json_t *doc, char out[CHECKSUM_TEXT_LEN + 1])
{
    json_t *copy = json_copy(doc);
    if (copy == NULL)
        return -1;
    json_object_del(copy, CHECKSUM_KEY);
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(copy);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = text != NULL && EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) == 1 && n == 32;
    free(text);
    if (!ok)
        return -1;
    int len = snprintf(out, CHECKSUM_TEXT_LEN + 1, "%s", CHECKSUM_PREFIX);
    for (unsigned int i = 0; i < n; i++)
        len += snprintf(out + len, CHECKSUM_TEXT_LEN + 1 - (size_t)len, "%02x", md[i]);
    return 0;
}

te_status_t checkpoint_metadata_write(const te_ckpt_metadata_t *m, const char *job_dir, te_error_t *err)
{
    char dir[4096];
    if (checkpoint_metadata_chk_dir(job_dir, m->checkpoint_id, dir, sizeof(dir)) == NULL)
        return te_error_set(err, TE_EINVAL, "checkpoint directory '%s' is too long", job_dir);
    return checkpoint_metadata_write_in(m, dir, err);
}

te_status_t checkpoint_metadata_write_in(const te_ckpt_metadata_t *m, const char *dir, te_error_t *err)
{
    char path[4200];
    if (file_mkdirs(dir, err) != TE_OK)
        return err ? err->code : TE_EIO;
    snprintf(path, sizeof(path), "%s/%s", dir, TE_CKPT_METADATA_FILE);
    json_t *doc = metadata_to_json(m, err);
    char sum[CHECKSUM_TEXT_LEN + 1];
    if (doc == NULL)
        return err ? err->code : TE_EINVAL;
    if (checksum_of(doc, sum) != 0 || json_object_set_new(doc, CHECKSUM_KEY, json_string(sum)) != 0) {
        json_decref(doc);
        return te_error_set(err, TE_ENOMEM, "out of memory serializing '%s'", path);
    }
    char *text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? realloc(text, n + 2) : NULL;
    if (line == NULL) {
        free(text);
        return te_error_set(err, TE_ENOMEM, "out of memory serializing '%s'", path);
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    te_status_t st = file_write_durable(path, line, n + 1, err);
    free(line);
    return st;
}

/* ---- read --------------------------------------------------------------------- */

static int get_u64(const json_t *obj, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static char *dup_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Fills h from JSON; returns NULL or the name of what is wrong. */
static const char *handle_from_json(const json_t *j, te_ckpt_handle_t *h)
{
    uint64_t u;
    if (!json_is_object(j))
        return "a handle is not an object";
    if ((h->path = dup_str(j, "path")) == NULL)
        return "handle.path";
    if (get_u64(j, "size", &h->size) != 0)
        return "handle.size";
    if (get_u64(j, "subtask_index", &u) != 0 || u > UINT32_MAX)
        return "handle.subtask_index";
    h->subtask_index = (uint32_t)u;
    if (get_u64(j, "parallelism", &u) != 0 || u > UINT32_MAX)
        return "handle.parallelism";
    h->parallelism = (uint32_t)u;
    const json_t *kg = json_object_get(j, "key_groups");
    if (!json_is_array(kg))
        return "handle.key_groups";
    size_t n = json_array_size(kg);
    if (n > 0 && (h->key_groups = calloc(n, sizeof(uint32_t))) == NULL)
        return "memory";
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(kg, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > UINT32_MAX)
            return "handle.key_groups[]";
        h->key_groups[i] = (uint32_t)json_integer_value(x);
        h->n_key_groups = i + 1;
    }
    const json_t *sh = json_object_get(j, "shared"); /* incremental checkpoints only */
    if (sh == NULL)
        return NULL;
    if (!json_is_array(sh))
        return "handle.shared";
    size_t ns = json_array_size(sh);
    if (ns > 0 && (h->shared = calloc(ns, sizeof(*h->shared))) == NULL)
        return "memory";
    for (size_t i = 0; i < ns; i++) {
        const json_t *f = json_array_get(sh, i);
        h->n_shared = i + 1;
        if (!json_is_object(f) || (h->shared[i].path = dup_str(f, "path")) == NULL || h->shared[i].path[0] != '/')
            return "handle.shared[].path";
        if (get_u64(f, "size", &h->shared[i].size) != 0)
            return "handle.shared[].size";
    }
    return NULL;
}

static const char *metadata_from_json(const json_t *doc, te_ckpt_metadata_t *m)
{
    uint64_t u;
    if (!json_is_object(doc))
        return "the document is not an object";
    if (get_u64(doc, "format", &u) != 0 || u != METADATA_FORMAT)
        return "format (expected 1)";
    if ((m->job_id = dup_str(doc, "job_id")) == NULL || strlen(m->job_id) != 32)
        return "job_id";
    if ((m->job_name = dup_str(doc, "job_name")) == NULL)
        return "job_name";
    if (get_u64(doc, "max_parallelism", &u) != 0 || u == 0 || u > UINT32_MAX)
        return "max_parallelism";
    m->max_parallelism = (uint32_t)u;
    if (get_u64(doc, "checkpoint_id", &m->checkpoint_id) != 0 || m->checkpoint_id == 0)
        return "checkpoint_id";
    if (get_u64(doc, "timestamp", &u) != 0)
        return "timestamp";
    m->timestamp_ms = (int64_t)u;
    if (get_u64(doc, "duration_ms", &u) != 0)
        return "duration_ms";
    m->duration_ms = (int64_t)u;
    if (get_u64(doc, "state_size", &m->state_size) != 0)
        return "state_size";
    const json_t *g = json_object_get(doc, "job_graph");
    if (!json_is_object(g) || (m->job_graph = json_dumps(g, JSON_COMPACT)) == NULL)
        return "job_graph";
    const json_t *vs = json_object_get(doc, "vertices");
    if (!json_is_array(vs))
        return "vertices";
    size_t nv = json_array_size(vs);
    if (nv > 0 && (m->vertices = calloc(nv, sizeof(*m->vertices))) == NULL)
        return "memory";
    for (size_t i = 0; i < nv; i++) {
        const json_t *vj = json_array_get(vs, i);
        te_ckpt_vertex_t *v = &m->vertices[i];
        m->n_vertices = i + 1;
        if (!json_is_object(vj) || (v->id = dup_str(vj, "id")) == NULL)
            return "vertices[].id";
        if ((v->vertex_id = dup_str(vj, "vertex_id")) == NULL)
            return "vertices[].vertex_id";
        if (get_u64(vj, "parallelism", &u) != 0 || u == 0 || u > UINT32_MAX)
            return "vertices[].parallelism";
        v->parallelism = (uint32_t)u;
        const json_t *hs = json_object_get(vj, "handles");
        if (!json_is_array(hs))
            return "vertices[].handles";
        size_t nh = json_array_size(hs);
        if (nh > 0 && (v->handles = calloc(nh, sizeof(*v->handles))) == NULL)
            return "memory";
        for (size_t k = 0; k < nh; k++) {
            v->n_handles = k + 1;
            const char *bad = handle_from_json(json_array_get(hs, k), &v->handles[k]);
            if (bad != NULL)
                return bad;
        }
    }
    return NULL;
}

/* Handle paths that are relative (a savepoint: self-contained, movable) name files in
 * the directory of the _metadata: made absolute. */
static int resolve_relative(te_ckpt_metadata_t *m, const char *chk_dir)
{
    for (size_t v = 0; v < m->n_vertices; v++)
        for (size_t k = 0; k < m->vertices[v].n_handles; k++) {
            te_ckpt_handle_t *h = &m->vertices[v].handles[k];
            if (h->path[0] == '/' || h->path[0] == '\0')
                continue;
            size_t n = strlen(chk_dir) + strlen(h->path) + 2;
            char *abs = malloc(n);
            if (abs == NULL)
                return -1;
            snprintf(abs, n, "%s/%s", chk_dir, h->path);
            free(h->path);
            h->path = abs;
        }
    return 0;
}

te_ckpt_metadata_t *checkpoint_metadata_read(const char *chk_dir, te_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", chk_dir, TE_CKPT_METADATA_FILE);
    if (access(path, F_OK) != 0) {
        te_error_set(err, TE_ENOTFOUND, "'%s' does not exist (not a completed checkpoint)", path);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        te_error_set(err, TE_EPROTO, "'%s' is corrupt or truncated: %s (line %d, column %d)", path, jerr.text,
                     jerr.line, jerr.column);
        return NULL;
    }
    /* A checksum that does not match: bytes changed after the write. (_metadata of
     * builds before the checksum has none and is taken as it is.) */
    const json_t *stored = json_object_get(doc, CHECKSUM_KEY);
    char sum[CHECKSUM_TEXT_LEN + 1];
    if (stored != NULL &&
        (!json_is_string(stored) || checksum_of(doc, sum) != 0 || strcmp(json_string_value(stored), sum) != 0)) {
        json_decref(doc);
        te_error_set(err, TE_EPROTO, "'%s' is corrupt: its checksum does not match its content", path);
        return NULL;
    }
    te_ckpt_metadata_t *m = calloc(1, sizeof(*m));
    const char *bad = m == NULL ? "memory" : metadata_from_json(doc, m);
    json_decref(doc);
    if (bad == NULL && (m->dir = strdup(chk_dir)) == NULL)
        bad = "memory";
    if (bad == NULL && resolve_relative(m, chk_dir) != 0)
        bad = "memory";
    if (bad != NULL) {
        te_error_set(err, strcmp(bad, "memory") == 0 ? TE_ENOMEM : TE_EPROTO,
                     "'%s' is not valid checkpoint metadata: bad or missing %s", path, bad);
        checkpoint_metadata_free(m);
        return NULL;
    }
    return m;
}

/* ---- listing ------------------------------------------------------------------- */

/* "chk-<n>" -> n (> 0), else 0. */
static uint64_t chk_name_id(const char *name)
{
    if (strncmp(name, "chk-", 4) != 0 || name[4] < '1' || name[4] > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(name + 4, &end, 10);
    return *end == '\0' && errno == 0 ? (uint64_t)v : 0;
}

/* The ids of the chk-<n> directories of job_dir, ascending. */
static te_status_t chk_ids(const char *job_dir, uint64_t **ids, size_t *n, te_error_t *err)
{
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(job_dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return TE_OK;
        return te_error_set(err, TE_EIO, "cannot read checkpoint directory '%s': %s", job_dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *e;
    te_status_t st = TE_OK;
    while ((e = readdir(d)) != NULL) {
        uint64_t id = chk_name_id(e->d_name);
        if (id == 0)
            continue;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint64_t *p = realloc(*ids, nc * sizeof(uint64_t));
            if (p == NULL) {
                st = te_error_set(err, TE_ENOMEM, "out of memory listing '%s'", job_dir);
                break;
            }
            *ids = p;
            cap = nc;
        }
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    if (st != TE_OK) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return st;
    }
    /* insertion sort: a handful of entries */
    for (size_t i = 1; i < *n; i++)
        for (size_t k = i; k > 0 && (*ids)[k - 1] > (*ids)[k]; k--) {
            uint64_t t = (*ids)[k];
            (*ids)[k] = (*ids)[k - 1];
            (*ids)[k - 1] = t;
        }
    return TE_OK;
}

uint64_t checkpoint_metadata_max_id(const char *job_dir)
{
    uint64_t *ids, max = 0;
    size_t n;
    if (chk_ids(job_dir, &ids, &n, NULL) != TE_OK)
        return 0;
    if (n > 0)
        max = ids[n - 1];
    free(ids);
    return max;
}

/* Appends to a growing list. */
static te_status_t list_push(te_ckpt_metadata_t ***list, size_t *n, size_t *cap, te_ckpt_metadata_t *m,
                             te_error_t *err)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        te_ckpt_metadata_t **p = realloc(*list, nc * sizeof(*p));
        if (p == NULL) {
            checkpoint_metadata_free(m);
            return te_error_set(err, TE_ENOMEM, "out of memory listing checkpoints");
        }
        *list = p;
        *cap = nc;
    }
    (*list)[(*n)++] = m;
    return TE_OK;
}

static te_status_t list_into(const char *job_dir, te_ckpt_metadata_t ***list, size_t *n, size_t *cap,
                             te_error_t *err)
{
    uint64_t *ids;
    size_t nids;
    te_status_t st = chk_ids(job_dir, &ids, &nids, err);
    if (st != TE_OK)
        return st;
    for (size_t i = 0; i < nids && st == TE_OK; i++) {
        char dir[4096];
        te_error_t e = {0};
        if (checkpoint_metadata_chk_dir(job_dir, ids[i], dir, sizeof(dir)) == NULL)
            continue;
        te_ckpt_metadata_t *m = checkpoint_metadata_read(dir, &e);
        if (m == NULL) {
            if (e.code != TE_ENOTFOUND)
                TE_WARN("checkpoint", "skipping checkpoint %" PRIu64 ": %s", ids[i], e.msg);
            continue;
        }
        if (m->checkpoint_id != ids[i]) {
            TE_WARN("checkpoint", "skipping '%s': its _metadata says checkpoint %" PRIu64, dir, m->checkpoint_id);
            checkpoint_metadata_free(m);
            continue;
        }
        st = list_push(list, n, cap, m, err);
    }
    free(ids);
    return st;
}

te_status_t checkpoint_metadata_list(const char *job_dir, te_ckpt_metadata_t ***out, size_t *n, te_error_t *err)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    te_status_t st = list_into(job_dir, out, n, &cap, err);
    if (st != TE_OK) {
        checkpoint_metadata_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return st;
}

static int is_job_hex(const char *s)
{
    if (strlen(s) != 32)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

te_status_t checkpoint_metadata_list_root(const char *root, const char *job_id, te_ckpt_metadata_t ***out,
                                          size_t *n, te_error_t *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    char path[4096];
    if (job_id != NULL) {
        snprintf(path, sizeof(path), "%s/%s", root, job_id);
        return checkpoint_metadata_list(path, out, n, err);
    }
    DIR *d = opendir(root);
    if (d == NULL)
        return te_error_set(err, errno == ENOENT ? TE_ENOTFOUND : TE_EIO,
                            "cannot read checkpoint directory '%s': %s", root, strerror(errno));
    char **jobs = NULL;
    size_t nj = 0, jcap = 0;
    te_status_t st = TE_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && st == TE_OK) {
        if (!is_job_hex(e->d_name))
            continue;
        if (nj == jcap) {
            size_t nc = jcap ? jcap * 2 : 8;
            char **p = realloc(jobs, nc * sizeof(*p));
            if (p == NULL) {
                st = te_error_set(err, TE_ENOMEM, "out of memory listing '%s'", root);
                break;
            }
            jobs = p;
            jcap = nc;
        }
        if ((jobs[nj] = strdup(e->d_name)) == NULL)
            st = te_error_set(err, TE_ENOMEM, "out of memory listing '%s'", root);
        else
            nj++;
    }
    closedir(d);
    if (nj > 1)
        qsort(jobs, nj, sizeof(*jobs), cmp_str);
    for (size_t i = 0; i < nj && st == TE_OK; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, jobs[i]);
        st = list_into(path, out, n, &cap, err);
    }
    for (size_t i = 0; i < nj; i++)
        free(jobs[i]);
    free(jobs);
    if (st != TE_OK) {
        checkpoint_metadata_list_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return st;
}

te_ckpt_metadata_t *checkpoint_metadata_latest(const char *job_dir, te_error_t *err)
{
    uint64_t *ids;
    size_t n;
    if (chk_ids(job_dir, &ids, &n, err) != TE_OK)
        return NULL;
    te_ckpt_metadata_t *m = NULL;
    for (size_t i = n; i-- > 0 && m == NULL;) {
        char dir[4096];
        te_error_t e = {0};
        if (checkpoint_metadata_chk_dir(job_dir, ids[i], dir, sizeof(dir)) == NULL)
            continue;
        m = checkpoint_metadata_read(dir, &e);
        if (m == NULL && e.code != TE_ENOTFOUND)
            TE_WARN("checkpoint", "skipping checkpoint %" PRIu64 ": %s", ids[i], e.msg);
        if (m != NULL && m->checkpoint_id != ids[i]) {
            TE_WARN("checkpoint", "skipping '%s': its _metadata says checkpoint %" PRIu64, dir, m->checkpoint_id);
            checkpoint_metadata_free(m);
            m = NULL;
        }
    }
    free(ids);
    if (m == NULL)
        te_error_set(err, TE_ENOTFOUND, "no valid completed checkpoint in '%s'", job_dir);
    return m;
}

int checkpoint_metadata_is_chk_dir(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", dir, TE_CKPT_METADATA_FILE);
    return access(path, F_OK) == 0;
}

te_ckpt_metadata_t *checkpoint_metadata_resolve(const char *dir, te_error_t *err)
{
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        te_error_set(err, TE_ENOTFOUND, "checkpoint directory '%s' does not exist", dir);
        return NULL;
    }
    if (checkpoint_metadata_is_chk_dir(dir))
        return checkpoint_metadata_read(dir, err);
    return checkpoint_metadata_latest(dir, err);
}

/* ---- retention ----------------------------------------------------------------- */

/* chk-<id> and everything in it, its _metadata first: a process killed halfway must not
 * leave a checkpoint that reads as complete while its snapshots are gone (a restore
 * would pick it and fail on the first missing file). */
static void remove_chk_dir(const char *job_dir, uint64_t id)
{
    char dir[4096], meta[4200];
    if (checkpoint_metadata_chk_dir(job_dir, id, dir, sizeof(dir)) == NULL)
        return;
    snprintf(meta, sizeof(meta), "%s/%s", dir, TE_CKPT_METADATA_FILE);
    (void)unlink(meta);
    file_remove_tree(dir);
}

void checkpoint_metadata_discard(const char *job_dir, uint64_t id)
{
    if (job_dir != NULL && id != 0)
        remove_chk_dir(job_dir, id);
}

/* 1 when chk-<id> holds a valid _metadata. */
static int chk_valid(const char *job_dir, uint64_t id)
{
    char dir[4096];
    te_ckpt_metadata_t *m;
    if (checkpoint_metadata_chk_dir(job_dir, id, dir, sizeof(dir)) == NULL ||
        (m = checkpoint_metadata_read(dir, NULL)) == NULL)
        return 0;
    checkpoint_metadata_free(m);
    return 1;
}

te_status_t checkpoint_metadata_retain(const char *job_dir, size_t keep, uint64_t protect_id, size_t *n_deleted,
                                       te_error_t *err)
{
    if (n_deleted)
        *n_deleted = 0;
    if (keep == 0)
        keep = 1;
    uint64_t *ids;
    size_t n;
    te_status_t st = chk_ids(job_dir, &ids, &n, err);
    if (st != TE_OK)
        return st;
    char *valid = calloc(n ? n : 1, 1);
    if (valid == NULL) {
        free(ids);
        return te_error_set(err, TE_ENOMEM, "out of memory pruning '%s'", job_dir);
    }
    /* The oldest kept = the keep-th newest directory that has a valid _metadata. */
    uint64_t oldest_kept = 0, newest = 0;
    size_t found = 0;
    for (size_t i = n; i-- > 0;) {
        if (!(valid[i] = (char)chk_valid(job_dir, ids[i])))
            continue;
        if (newest == 0)
            newest = ids[i];
        if (found++ < keep)
            oldest_kept = ids[i];
    }
    for (size_t i = 0; i < n; i++) {
        /* older than the oldest kept, or aborted / abandoned (no valid _metadata) and older
         * than the newest completed one (no checkpoint before it is still being written) */
        int old = found >= keep && ids[i] < oldest_kept, dead = !valid[i] && ids[i] < newest;
        if (ids[i] == protect_id || !(old || dead))
            continue;
        remove_chk_dir(job_dir, ids[i]);
        if (n_deleted)
            (*n_deleted)++;
    }
    free(valid);
    free(ids);
    return TE_OK;
}

te_status_t checkpoint_metadata_sweep(const char *job_dir, uint64_t from_id, uint64_t below_id, size_t *n_deleted,
                                      te_error_t *err)
{
    uint64_t *ids;
    size_t n;
    if (n_deleted)
        *n_deleted = 0;
    te_status_t st = chk_ids(job_dir, &ids, &n, err);
    for (size_t i = 0; st == TE_OK && i < n && ids[i] < below_id; i++) {
        if (ids[i] < from_id || chk_valid(job_dir, ids[i]))
            continue;
        remove_chk_dir(job_dir, ids[i]);
        if (n_deleted)
            (*n_deleted)++;
    }
    free(ids);
    return st;
}
