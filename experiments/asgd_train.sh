# Sourced by the experiment scripts: sets $train to asgd-train ($ASGD_TRAIN, or the Release
# build's, building it first when it is missing). Needs $root, the repository root.
train=${ASGD_TRAIN:-$root/build-release/tools/asgd-train}
if [ ! -x "$train" ]; then
  cmake -S "$root" -B "$root/build-release" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build-release" --target asgd-train >/dev/null
fi
