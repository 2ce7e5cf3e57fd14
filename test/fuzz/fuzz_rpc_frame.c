/*
 * fuzz_rpc_frame — libFuzzer harness for the control-plane input path: the bytes a
 * connection delivers go through the frame decoder in chunks whose sizes the input
 * chooses; each complete frame is unpacked as an RpcMessage; a SubmitTask's
 * TaskDeploymentDescriptor then goes through the deployment validator
 * (task_check_ids), exactly as the daemon does before building anything.
 *
 * Input layout: byte 0 = chunk size seed; the rest = the stream.
 * Threading: single-threaded.
 */
#include <stddef.h>
#include <stdint.h>

#include "rpc/frame_codec.h"
#include "task/task.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    data++;
    size--;
    frame_decoder_t dec;
    frame_decoder_init(&dec, 1 << 20);
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < chunk ? size - off : chunk;
        const uint8_t *p = data + off;
        size_t left = n;
        while (left > 0) {
            size_t used = 0, flen = 0;
            const uint8_t *frame = NULL;
            te_error_t err;
            frame_result_t r = frame_decoder_feed(&dec, p, left, &used, &frame, &flen, &err);
            if (r == FRAME_ERROR)
                goto done;
            if (r == FRAME_READY) {
                Te__RpcMessage *m = frame_decode_message(frame, flen, &err);
                if (m != NULL) {
                    (void)frame_message_kind(m);
                    (void)frame_message_body_name(m);
                    if (m->body_case == TE__RPC_MESSAGE__BODY_SUBMIT_TASK && m->submit_task)
                        (void)task_check_ids(m->submit_task->tdd, &err);
                    te__rpc_message__free_unpacked(m, NULL);
                }
            }
            if (used == 0 && r != FRAME_READY)
                break;
            p += used;
            left -= used;
        }
        off += n;
    }
done:
    frame_decoder_free(&dec);
    return 0;
}
