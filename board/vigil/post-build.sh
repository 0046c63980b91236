#!/bin/sh
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT): runs after
# every package is installed and the overlay copied, before the images
# are made. $1 is the target directory; BR2_CONFIG names the .config.
set -eu

TARGET_DIR=$1

# vigil as the init: the package links these too, but another package
# (busybox's init applet) may install /sbin/init after it. The kernel
# runs /init from an initramfs and /sbin/init from a disk.
if grep -q '^BR2_PACKAGE_VIGIL_INIT=y' "$BR2_CONFIG"; then
    [ -x "$TARGET_DIR/sbin/vigil" ] || { echo "post-build: $TARGET_DIR/sbin/vigil missing" >&2; exit 1; }
    ln -sf sbin/vigil "$TARGET_DIR/init"
    ln -sf vigil "$TARGET_DIR/sbin/init"
    rm -f "$TARGET_DIR/linuxrc"
fi

# Directories PID 1 mounts on, and the ones keepalived's scripts expect.
for d in proc sys dev run tmp etc/vigil; do
    mkdir -p "$TARGET_DIR/$d"
done

# Kernel modules: vigil loads the ones listed in /etc/vigil/modules (an
# absolute path a line, dependencies first) with finit_module, as it
# cannot run modprobe. Our kernel fragment builds everything in, so the
# list is only written when someone's kernel config adds modules. Each
# module's dependencies come from modules.dep (listed so that the last
# one must be loaded first), in modules.order.
LIST=$TARGET_DIR/etc/vigil/modules
rm -f "$LIST"
for moddir in "$TARGET_DIR"/lib/modules/*; do
    [ -f "$moddir/modules.dep" ] || continue
    kver=${moddir##*/}
    if ! find "$moddir" -name '*.ko' | grep -q .; then
        if find "$moddir" -name '*.ko.*' | grep -q .; then
            echo "post-build: compressed modules in $moddir: vigil's finit_module needs plain .ko (unset CONFIG_MODULE_COMPRESS_*)" >&2
            exit 1
        fi
        continue
    fi
    {
        echo "# Kernel modules for vigil, in load order. Written by board/vigil/post-build.sh for $kver."
        order=$moddir/modules.order
        [ -f "$order" ] || order=/dev/null
        { cat "$order"; cut -d: -f1 "$moddir/modules.dep"; } |
        awk -v dir="/lib/modules/$kver" -v depfile="$moddir/modules.dep" '
            BEGIN {
                while ((getline line < depfile) > 0) {
                    split(line, parts, ":")
                    mod = parts[1]; n = split(parts[2], d, " ")
                    ndeps[mod] = n
                    for (i = 1; i <= n; i++) dep[mod, i] = d[i]
                }
            }
            function emit(m,   i) {
                if (m in done) return
                done[m] = 1
                for (i = ndeps[m]; i >= 1; i--) emit(dep[m, i])
                print dir "/" m
            }
            { m = $0; sub(/\.ko.*$/, ".ko", m); if (m in ndeps) emit(m) }'
    } >"$LIST"
done
