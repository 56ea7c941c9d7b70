# Sourced by the experiment scripts: runs commands in the background, at most $jobs at once.
#   pool_start CMD [ARG...]   starts CMD, first waiting for the oldest job when $jobs are running
#   pool_finish               waits for every job started
# A job that fails stops the script (set -e) when it is waited for.
pool_pids=()
pool_start() {
  "$@" &
  pool_pids+=($!)
  if ((${#pool_pids[@]} >= jobs)); then
    wait "${pool_pids[0]}"
    pool_pids=("${pool_pids[@]:1}")
  fi
}
pool_finish() {
  local pid
  for pid in "${pool_pids[@]}"; do wait "$pid"; done
  pool_pids=()
}
