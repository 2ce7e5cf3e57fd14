# test_checkpoint_fault with unaligned checkpoints: every restart replays the in-flight
# channel state of the checkpoint it restores, and the committed output must still be
# exactly the undisturbed result.
UNALIGNED=true exec bash "$(dirname "$0")/test_checkpoint_fault.sh"
