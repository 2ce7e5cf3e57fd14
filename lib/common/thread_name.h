/*
 * thread_name — names the calling thread for top -H, ps -L, perf and gdb (Linux keeps
 * 15 bytes). A name that ends in a subtask suffix such as " (2/4)" keeps the suffix
 * and shortens the part before it, so the threads of one vertex stay told apart.
 */
#ifndef TE_THREAD_NAME_H
#define TE_THREAD_NAME_H

/* Names the calling thread `prefix` followed by `name`, shortened as above. */
void te_thread_set_name(const char *prefix, const char *name);
/* Pure: the name te_thread_set_name would give, into out[16]. */
void te_thread_name_shorten(const char *prefix, const char *name, char out[16]);

#endif
