/*
 * rocksdb_scratch_fs — RocksDB's POSIX file system without syncs, for the scratch
 * directories of task-local instances (see rocksdb_scratch_fs.h for why that is safe).
 *
 * Threading: the file system and its Env are made once (a function-local static, which
 * C++ initialises thread-safely) and never freed: RocksDB's own default Env, which they
 * wrap, is a static whose destruction order against ours is not defined, and an
 * instance may still be closing on a snapshot thread at exit. RocksDB calls them from
 * any of its threads.
 */
#include "state/rocksdb_scratch_fs.h"

#include <atomic>
#include <memory>
#include <new>
#include <string>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>

/* The C API's options handle (its layout in RocksDB's c.cc; rocksdb_memory.cc relies
 * on the same). */
struct rocksdb_options_t {
    rocksdb::Options rep;
};

namespace
{

using rocksdb::FileOptions;
using rocksdb::FSDirectory;
using rocksdb::FSWritableFile;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;

std::atomic<uint64_t> skipped{0};

IOStatus skip()
{
    skipped.fetch_add(1, std::memory_order_relaxed);
    return IOStatus::OK();
}

class ScratchFile : public rocksdb::FSWritableFileOwnerWrapper
{
  public:
    using rocksdb::FSWritableFileOwnerWrapper::FSWritableFileOwnerWrapper;
    IOStatus Sync(const IOOptions &, IODebugContext *) override { return skip(); }
    IOStatus Fsync(const IOOptions &, IODebugContext *) override { return skip(); }
    IOStatus RangeSync(uint64_t, uint64_t, const IOOptions &, IODebugContext *) override { return skip(); }
};

class ScratchDirectory : public rocksdb::FSDirectoryWrapper
{
  public:
    using rocksdb::FSDirectoryWrapper::FSDirectoryWrapper;
    IOStatus Fsync(const IOOptions &, IODebugContext *) override { return skip(); }
    IOStatus FsyncWithDirOptions(const IOOptions &, IODebugContext *, const rocksdb::DirFsyncOptions &) override
    {
        return skip();
    }
};

class ScratchFileSystem : public rocksdb::FileSystemWrapper
{
  public:
    explicit ScratchFileSystem(const std::shared_ptr<rocksdb::FileSystem> &t) : rocksdb::FileSystemWrapper(t) {}
    static const char *kClassName() { return "TeScratchFileSystem"; }
    const char *Name() const override { return kClassName(); }

    IOStatus NewWritableFile(const std::string &f, const FileOptions &o, std::unique_ptr<FSWritableFile> *r,
                             IODebugContext *d) override
    {
        return wrap<ScratchFile>(target()->NewWritableFile(f, o, r, d), r);
    }
    IOStatus ReopenWritableFile(const std::string &f, const FileOptions &o, std::unique_ptr<FSWritableFile> *r,
                                IODebugContext *d) override
    {
        return wrap<ScratchFile>(target()->ReopenWritableFile(f, o, r, d), r);
    }
    IOStatus ReuseWritableFile(const std::string &f, const std::string &old, const FileOptions &o,
                               std::unique_ptr<FSWritableFile> *r, IODebugContext *d) override
    {
        return wrap<ScratchFile>(target()->ReuseWritableFile(f, old, o, r, d), r);
    }
    IOStatus NewDirectory(const std::string &name, const IOOptions &o, std::unique_ptr<FSDirectory> *r,
                          IODebugContext *d) override
    {
        return wrap<ScratchDirectory>(target()->NewDirectory(name, o, r, d), r);
    }

  private:
    /* What the POSIX file system opened (when it did), inside its scratch wrapper. */
    template <class Wrapper, class T> static IOStatus wrap(IOStatus s, std::unique_ptr<T> *r)
    {
        if (s.ok() && *r) {
            T *w = new (std::nothrow) Wrapper(std::move(*r));
            if (w == nullptr)
                return IOStatus::NoSpace("out of memory wrapping a file");
            r->reset(w);
        }
        return s;
    }
};

rocksdb::Env *scratch_env()
{
    static rocksdb::Env *env = []() -> rocksdb::Env * {
        try {
            return rocksdb::NewCompositeEnv(std::make_shared<ScratchFileSystem>(rocksdb::FileSystem::Default()))
                .release();
        } catch (...) {
            return nullptr;
        }
    }();
    return env;
}

} // namespace

extern "C" int rocksdb_scratch_fs_apply(rocksdb_options_t *opts)
{
    rocksdb::Env *env = scratch_env();
    if (env == nullptr)
        return -1;
    opts->rep.env = env;
    return 0;
}

extern "C" uint64_t rocksdb_scratch_fs_syncs_skipped(void) { return skipped.load(std::memory_order_relaxed); }
