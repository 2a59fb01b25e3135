#!/bin/sh
# mk/install.sh: `make install` and `make uninstall` (mk/install.mk).
#   sh mk/install.sh install   DESTDIR PREFIX BUILD
#   sh mk/install.sh uninstall DESTDIR PREFIX
# install copies what a user of cnnc needs under DESTDIR/PREFIX and writes
# share/cnnc/manifest: every file it wrote and every directory it had to
# create. uninstall removes exactly those (directories only when empty), so
# install then uninstall leaves DESTDIR as it was.
set -eu

mode=$1
root=$2$3
manifest=$root/share/cnnc/manifest

# The directories above $1 that do not exist yet, outermost first.
missing_dirs() {
    d=$1 out=""
    while [ ! -d "$d" ]; do
        out="$d
$out"
        d=$(dirname "$d")
    done
    printf '%s' "$out"
}

# Copies $1 to $root/$2 with mode $3, creating (and recording) directories.
put() {
    dest=$root/$2
    missing_dirs "$(dirname "$dest")" >>"$dirs"
    mkdir -p "$(dirname "$dest")"
    cp "$1" "$dest.tmp$$"
    chmod "$3" "$dest.tmp$$"
    mv -f "$dest.tmp$$" "$dest"
    echo "f $dest" >>"$files"
}

# A wrapper running one of the Python tools installed in share/cnnc/tools.
wrapper() {
    cat <<EOF
#!/bin/sh
# $1: runs cnnc's $2 (installed in share/cnnc/tools) with the Python that
# has its libraries (PyTorch, numpy, onnx, flatbuffers); CNNC_PYTHON
# names another. See cnnc(1).
here=\$(dirname "\$(readlink -f "\$0")")
exec "\${CNNC_PYTHON:-/usr/bin/python3}" "\$here/../share/cnnc/tools/$2" "\$@"
EOF
}

case $mode in
install)
    build=$4
    version=$("$build/cnnc" --version | sed 's/^cnnc //')
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    dirs=$tmp/dirs files=$tmp/files
    : >"$dirs"
    : >"$files"
    # a reinstall keeps what the first install created
    [ -f "$manifest" ] && sed -n 's/^d //p' "$manifest" >>"$dirs"

    put "$build/cnnc" bin/cnnc 755
    wrapper cnnc-import cnnc_import.py >"$tmp/cnnc-import"
    wrapper cnnc-export cnnc_export.py >"$tmp/cnnc-export"
    put "$tmp/cnnc-import" bin/cnnc-import 755
    put "$tmp/cnnc-export" bin/cnnc-export 755
    # the tools and the modules they import; not the scripts that make the
    # repository's own data (references, figures, the demo model)
    for f in tools/*.py; do
        case $(basename "$f") in
        gen_refs.py | model_figures.py | train_digits.py) ;;
        *) put "$f" "share/cnnc/tools/$(basename "$f")" 644 ;;
        esac
    done
    for f in runtime/cnnc_rt.c runtime/cnnc_rt.h runtime/cnnc_q8.h; do
        put "$f" "share/cnnc/runtime/$(basename "$f")" 644
    done
    for f in main.c startup.c mps2_an386.ld CMakeLists.txt; do
        put "examples/firmware/$f" "share/cnnc/firmware/$f" 644
    done
    put docs/cnnc.1 share/man/man1/cnnc.1 644
    put cmake/cnncConfig.cmake lib/cmake/cnnc/cnncConfig.cmake 644
    put cmake/arm-none-eabi.cmake lib/cmake/cnnc/arm-none-eabi.cmake 644
    sed "s/@CNNC_VERSION@/$version/" cmake/cnncConfigVersion.cmake.in >"$tmp/version.cmake"
    put "$tmp/version.cmake" lib/cmake/cnnc/cnncConfigVersion.cmake 644

    # the manifest lists itself, so uninstall removes it last
    echo "f $manifest" >>"$files"
    { cat "$files"; awk 'NF && !seen[$0]++ { print "d " $0 }' "$dirs"; } >"$tmp/manifest"
    mv -f "$tmp/manifest" "$manifest"
    echo "installed cnnc $version in $root ($(grep -c '^f ' "$manifest") files; manifest $manifest)"
    ;;
uninstall)
    if [ ! -f "$manifest" ]; then
        echo "uninstall: no cnnc installed in $root (no $manifest)" >&2
        exit 1
    fi
    n=0
    while read -r kind path; do
        [ "$kind" = f ] || continue
        [ "$path" = "$manifest" ] && continue
        rm -f "$path"
        n=$((n + 1))
    done <"$manifest"
    # deepest first; a directory something else put files in stays
    order=$(mktemp)
    sed -n 's/^d //p' "$manifest" | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2- >"$order"
    rm -f "$manifest"
    while read -r d; do
        rmdir "$d" 2>/dev/null || true
    done <"$order"
    rm -f "$order"
    # share/cnnc itself, when the install did not have to create it
    rmdir "$root/share/cnnc/tools" "$root/share/cnnc/runtime" "$root/share/cnnc/firmware" "$root/share/cnnc" \
        "$root/lib/cmake/cnnc" 2>/dev/null || true
    echo "removed cnnc from $root ($n files)"
    ;;
*)
    echo "usage: mk/install.sh install|uninstall DESTDIR PREFIX [BUILD]" >&2
    exit 2
    ;;
esac
