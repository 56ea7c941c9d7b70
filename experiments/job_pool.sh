# Sourced by the experiment scripts: runs commands in the background, at most $jobs at once.
#   pool_start CMD [ARG...]   starts CMD, first waiting for a job to finish when $jobs are running
#   pool_finish               waits for every job started
# A job that fails stops the script (set -e) when it is waited for.
pool_pids=()
pool_start() {
  "$@" &
  pool_pids+=($!)
  if ((${#pool_pids[@]} >= jobs)); then
    local finished pid left=()
    wait -n -p finished "${pool_pids[@]}"  # whichever ends first (bash 5.1)
    for pid in "${pool_pids[@]}"; do [[ $pid == "$finished" ]] || left+=("$pid"); done
    pool_pids=("${left[@]}")
  fi
}
pool_finish() {
  local pid
  for pid in "${pool_pids[@]}"; do wait "$pid"; done
  pool_pids=()
}
