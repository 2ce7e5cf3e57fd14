/*
 * rocksdb_capture — a native RocksDB checkpoint in two parts (see rocksdb_capture.h).
 * The C API's handles are re-declared as RocksDB's c.cc defines them (a struct whose
 * first member is the C++ object as `rep`), as rocksdb_memory.cc does.
 *
 * Threading: see rocksdb_capture.h; no state of its own.
 */
#include "state/rocksdb_capture.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <rocksdb/utilities/checkpoint.h>

struct rocksdb_t {
    rocksdb::DB *rep;
};
struct rocksdb_column_family_handle_t {
    rocksdb::ColumnFamilyHandle *rep;
};

static int fail(char **errmsg, const std::string &what, const rocksdb::Status &s)
{
    *errmsg = strdup((what + ": " + s.ToString()).c_str());
    return -1;
}

static int out_of_memory(char **errmsg)
{
    *errmsg = strdup("out of memory");
    return -1;
}

extern "C" int rocksdb_capture_switch(rocksdb_t *db, rocksdb_column_family_handle_t *const *cfs, size_t n,
                                      uint64_t *seq, char **errmsg)
{
    try {
        *seq = db->rep->GetLatestSequenceNumber();
        std::vector<rocksdb::ColumnFamilyHandle *> hs{db->rep->DefaultColumnFamily()};
        for (size_t i = 0; i < n; i++)
            hs.push_back(cfs[i]->rep);
        rocksdb::FlushOptions fo;
        fo.wait = false;
        fo.allow_write_stall = true; /* switch now, even when the flush will stall writes */
        rocksdb::Status s = db->rep->Flush(fo, hs);
        return s.ok() ? 0 : fail(errmsg, "switching the memtables", s);
    } catch (...) {
        return out_of_memory(errmsg);
    }
}

extern "C" int rocksdb_capture_wait_flushed(rocksdb_t *db, rocksdb_column_family_handle_t *const *cfs, size_t n,
                                            char **errmsg)
{
    useconds_t nap = 100;
    for (;;) {
        uint64_t pending = 0, v = 0, errors = 0;
        if (db->rep->GetIntProperty("rocksdb.num-immutable-mem-table", &v)) /* the default family */
            pending += v;
        for (size_t i = 0; i < n; i++)
            if (db->rep->GetIntProperty(cfs[i]->rep, "rocksdb.num-immutable-mem-table", &v))
                pending += v;
        if (pending == 0)
            return 0;
        if (db->rep->GetIntProperty("rocksdb.background-errors", &errors) && errors > 0) {
            *errmsg = strdup("RocksDB reports a background error: the memtables cannot be flushed");
            return -1;
        }
        usleep(nap);
        nap = nap < 4000 ? nap * 2 : nap;
    }
}

extern "C" int rocksdb_capture_compact(rocksdb_t *db, rocksdb_column_family_handle_t *const *cfs, size_t n,
                                       uint64_t seq, char **errmsg)
{
    try {
        for (size_t i = 0; i < n; i++) {
            rocksdb::ColumnFamilyMetaData meta;
            db->rep->GetColumnFamilyMetaData(cfs[i]->rep, &meta);
            std::vector<std::string> inputs;
            uint64_t total = 0, largest_run = 0;
            int busy = 0, last_level = 0;
            for (const auto &level : meta.levels) {
                uint64_t run = 0; /* a level above 0 is one sorted run; each file of level 0 is one */
                for (const auto &f : level.files) {
                    if (f.being_compacted || f.largest_seqno > seq) {
                        busy = 1;
                        break;
                    }
                    inputs.push_back(f.name);
                    total += f.size;
                    run = level.level == 0 ? f.size : run + f.size;
                    largest_run = run > largest_run ? run : largest_run;
                }
                if (!level.files.empty())
                    last_level = level.level;
            }
            /* only files written by the barrier, none a compaction holds; merged when the
             * runs besides the largest hold more than half its size */
            if (busy || inputs.size() < 2 || (total - largest_run) * 2 <= largest_run)
                continue;
            rocksdb::CompactionOptions co;
            co.compression = rocksdb::kDisableCompressionOption; /* the family's, for the output level */
            int out = meta.levels.empty() ? 0 : (int)meta.levels.size() - 1;
            out = out > last_level ? out : last_level;
            rocksdb::Status s = db->rep->CompactFiles(co, cfs[i]->rep, inputs, out);
            if (!s.ok() && !s.IsAborted() && !s.IsInvalidArgument())
                return fail(errmsg, "merging the sorted runs of a column family before a checkpoint", s);
        }
        return 0;
    } catch (...) {
        return out_of_memory(errmsg);
    }
}

static std::string base_name(const std::string &p)
{
    size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

extern "C" int rocksdb_capture_checkpoint(rocksdb_t *db, const char *dir, uint64_t seq, int *clean, char **errmsg)
{
    *clean = 0;
    try {
        rocksdb::DB *d = db->rep;
        /* The files live before and after the checkpoint, with deletions held off
         * between: every SST file the checkpoint links is in one of the two lists
         * unless a compaction took it in between (then it cannot be checked: unclean). */
        rocksdb::Status s = d->DisableFileDeletions();
        if (!s.ok())
            return fail(errmsg, "holding off file deletions", s);
        struct deletions_back { /* also when an allocation below throws */
            rocksdb::DB *d;
            ~deletions_back() { d->EnableFileDeletions(false); }
        } held{d};
        std::vector<rocksdb::LiveFileMetaData> before, after;
        d->GetLiveFilesMetaData(&before);
        rocksdb::Checkpoint *cp = nullptr;
        s = rocksdb::Checkpoint::Create(d, &cp);
        if (s.ok()) {
            std::unique_ptr<rocksdb::Checkpoint> owned(cp);
            s = cp->CreateCheckpoint(dir, std::numeric_limits<uint64_t>::max()); /* max: no flush */
        }
        d->GetLiveFilesMetaData(&after);
        if (!s.ok())
            return fail(errmsg, std::string("RocksDB checkpoint into '") + dir + "'", s);
        std::unordered_map<std::string, uint64_t> largest;
        for (const auto *list : {&before, &after})
            for (const auto &f : *list)
                largest[base_name(f.name)] = f.largest_seqno;
        DIR *dd = opendir(dir);
        if (dd == nullptr) {
            *errmsg = strdup((std::string("cannot read '") + dir + "'").c_str());
            return -1;
        }
        int ok = 1;
        for (struct dirent *e; ok && (e = readdir(dd)) != nullptr;) {
            size_t len = strlen(e->d_name);
            if (len < 4 || strcmp(e->d_name + len - 4, ".sst") != 0)
                continue;
            auto it = largest.find(e->d_name);
            ok = it != largest.end() && it->second <= seq;
        }
        closedir(dd);
        *clean = ok;
        return 0;
    } catch (...) {
        return out_of_memory(errmsg);
    }
}
