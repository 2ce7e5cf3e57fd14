/*
 * sd_notify — the systemd service notification protocol without libsystemd: one
 * datagram of newline-separated KEY=VALUE assignments ("READY=1\nSTATUS=...") sent
 * to the unix datagram socket named by $NOTIFY_SOCKET (a path, or an abstract
 * socket when it starts with '@').
 *
 * Threading: any thread; each call opens, uses and closes its own socket. Reads the
 * environment (getenv), so do not call it while another thread runs setenv.
 */
#ifndef TE_SD_NOTIFY_H
#define TE_SD_NOTIFY_H

/* Sends `state` to $NOTIFY_SOCKET. Returns 1 when sent, 0 when NOTIFY_SOCKET is unset
 * or empty (not run by systemd: nothing to do), -1 on error (errno set; the caller
 * logs it — a notification failure is never fatal). */
int sd_notify_send(const char *state);

/* printf-style convenience; the text is truncated at 4 KiB. Same return values. */
int sd_notify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
