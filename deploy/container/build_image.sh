#!/usr/bin/env bash
# Builds the autoglm serve container image offline from Debian's packages: a minimal Debian 12 root
# filesystem (mmdebstrap, from the host's apt sources) with the runtime libraries the binary links,
# cuBLASLt from the CUDA toolkit, the binary, the run script, a non-root user and /models; then
# packs it as an OCI image archive with umoci (no registry, no container daemon). It also checks
# the result: the binary inside the root filesystem, under chroot, serves /health and a chat with
# the demo model.
#   deploy/container/build_image.sh [OUT_DIR]   (default build/container)
# Needs root (mmdebstrap, chroot), mmdebstrap and umoci (apt), a release build with the CUDA
# backend (build/release/bin/autoglm) and the CUDA toolkit's libcublasLt.so.13.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/container}
bin=build/release/bin/autoglm
cublas=${CUBLASLT:-$(ls /usr/local/cuda/lib64/libcublasLt.so.13 2>/dev/null || true)}
# WITH_NCCL=1: also NCCL (about 210 MB more), which --tensor-parallel-size > 1 loads at run time
# (the two-GPU overlay of deploy/k8s).
nccl=""
if [[ ${WITH_NCCL:-0} == 1 ]]; then
  nccl=${NCCL:-$(ls /usr/local/cuda/lib/libnccl.so.2 /usr/local/cuda/lib64/libnccl.so.2 2>/dev/null | head -1)}
  [[ -n $nccl ]] || { echo "WITH_NCCL=1: libnccl.so.2 not found (set NCCL=path)"; exit 1; }
fi
[[ -x $bin ]] || { echo "build $bin first (scripts/setup.sh)"; exit 1; }
rootfs=$out/rootfs
rm -rf "$out" && mkdir -p "$out"
t0=$(date +%s)

echo "== root filesystem (mmdebstrap, Debian 12)"
mmdebstrap --quiet --variant=essential \
  --include=libpng16-16,libjpeg62-turbo,libdeflate0,libpcre2-8-0,libcurl4,libstdc++6,zlib1g,ca-certificates,curl \
  --dpkgopt='path-exclude=/usr/share/{doc,man,info,locale}/*' bookworm "$rootfs"
install -D -m 755 "$bin" "$rootfs/usr/local/bin/autoglm"
install -D -m 755 deploy/run_autoglm_server.sh "$rootfs/usr/local/bin/run_autoglm_server.sh"
if [[ -n $cublas ]]; then
  install -D -m 644 "$cublas" "$rootfs/usr/local/lib/autoglm/libcublasLt.so.13"
  echo /usr/local/lib/autoglm > "$rootfs/etc/ld.so.conf.d/autoglm.conf"
fi
if [[ -n $nccl ]]; then
  install -D -m 644 "$(readlink -f "$nccl")" "$rootfs/usr/local/lib/autoglm/libnccl.so.2"
  echo /usr/local/lib/autoglm > "$rootfs/etc/ld.so.conf.d/autoglm.conf"
fi
chroot "$rootfs" ldconfig
echo "autoglm:x:10001:10001:autoglm:/home/autoglm:/usr/sbin/nologin" >> "$rootfs/etc/passwd"
echo "autoglm:x:10001:" >> "$rootfs/etc/group"
mkdir -p "$rootfs/models" "$rootfs/home/autoglm"
chown 10001:10001 "$rootfs/home/autoglm"
if chroot "$rootfs" ldd /usr/local/bin/autoglm | grep "not found"; then
  echo "missing libraries in the image"; exit 1
fi

echo "== check: the binary in the root filesystem serves /health and a chat (chroot)"
mount -t proc proc "$rootfs/proc"
trap 'umount "$rootfs/proc" 2>/dev/null || true' EXIT
chroot --userspec=10001:10001 "$rootfs" /usr/local/bin/autoglm serve --port 18090 \
  --host 127.0.0.1 > "$out/check.log" 2>&1 &
pid=$!
for _ in $(seq 150); do curl -sf 127.0.0.1:18090/health > /dev/null && break; sleep 0.2; done
curl -sf 127.0.0.1:18090/health
echo
curl -sf 127.0.0.1:18090/v1/chat/completions -H 'Content-Type: application/json' \
  -d '{"model":"autoglm-phone-9b","max_tokens":8,"messages":[{"role":"user","content":"你是谁？"}]}' \
  | head -c 300
echo
kill -TERM $pid; wait $pid || true
umount "$rootfs/proc"; trap - EXIT

if [[ ${ROOTFS_TAR:-0} == 1 ]]; then  # for deploy/container/Containerfile (buildah)
  tar -C "$rootfs" -cf "$out/rootfs.tar" .
fi

echo "== OCI image (umoci)"
layout=$out/oci
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$out/bundle"
rm -rf "$out/bundle/rootfs" && mv "$rootfs" "$out/bundle/rootfs"
umoci repack --image "$layout:latest" "$out/bundle"
umoci config --image "$layout:latest" --config.user 10001:10001 --config.exposedports 8000/tcp \
  --config.volume /models --config.workingdir /home/autoglm \
  --config.env MODEL_PATH=/models/AutoGLM-Phone-9B --config.env PORT=8000 \
  --config.entrypoint /usr/local/bin/run_autoglm_server.sh \
  --config.label org.opencontainers.image.title=autoglm-serve
tar -C "$layout" -cf "$out/autoglm-serve-oci.tar" .
rm -rf "$out/bundle"
echo "wrote $out/autoglm-serve-oci.tar ($(du -h "$out/autoglm-serve-oci.tar" | cut -f1)) in $(( $(date +%s) - t0 )) s"
