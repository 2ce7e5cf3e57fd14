/*
 * compiler — hints for the per-record hot path (GCC and clang): branch likelihood and
 * inlining. Use them where a profile shows the compiler's own choice costs (a fast path
 * left out of line, a slow path inlined into it and forcing a stack frame on every
 * call), not as decoration.
 *
 * Threading: none (macros and a pure inline).
 */
#ifndef TE_COMPILER_H
#define TE_COMPILER_H

#define TE_LIKELY(x)     __builtin_expect(!!(x), 1)
#define TE_UNLIKELY(x)   __builtin_expect(!!(x), 0)
#define TE_ALWAYS_INLINE inline __attribute__((always_inline))
#define TE_NOINLINE      __attribute__((noinline))

/* In a spin-wait loop: tells the CPU (x86 `pause`) so the sibling hyperthread and the
 * memory system are not flooded while we poll. */
static inline void te_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
