# test_checkpoint_fault with the rocksdb state backend and incremental checkpoints, for
# three seeds (kill moments; at least 3 kills each, the job a third longer than the
# hashmap one): every restart restores each task's RocksDB instance from the shared
# files of the checkpoint, later checkpoints refer to them again, and the committed
# output must still be exactly the undisturbed result.
for seed in 101 202 303; do
  mkdir -p "$WORK/seed-$seed"
  SEED=$seed WORK="$WORK/seed-$seed" N=800000 MIN_KILLS=3 \
    STATE_CONFIG='"state.backend.type": "rocksdb", "state.backend.incremental": "true"' \
    bash "$(dirname "$0")/test_checkpoint_fault.sh" || { echo "FAIL: seed $seed"; exit 1; }
done
