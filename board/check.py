#!/usr/bin/env python3
"""Checks vigil's Buildroot br2-external tree (board/) without Buildroot.

Buildroot itself cannot be downloaded where vigil is developed and tested,
so this verifies what can be verified from the files alone:

- external.desc: a `name:` of [A-Za-z0-9_] (VIGIL) and a short `desc:`.
- external.mk includes every package/*/*.mk.
- Every Config.in, parsed by a real Kconfig parser (kconfiglib), with stub
  definitions of the Buildroot symbols they reference (STUB_SYMBOLS):
  a warning of any kind, such as a reference to an undefined symbol, is an
  error. Each package's Config.in defines BR2_PACKAGE_<NAME> with a help
  text, and a cargo package depends on BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS
  and selects BR2_PACKAGE_HOST_RUSTC, as the manual's cargo-package
  tutorial asks.
- Each package's .mk: <NAME>_VERSION, _SITE, _SITE_METHOD (a method the
  manual lists), _LICENSE, _LICENSE_FILES set, and `$(eval $(cargo-package))`
  as its last line. With the `local` method, the site must be a directory
  holding the crate's Cargo.toml; the licence files must exist there.
- Each .hash file: lines `<type>  <hex>  <file>` (two spaces, as the manual
  says) of a type the manual lists with that type's digest length, or
  comments; every licence file has a hash, and it matches the file.
- Each configs/*_defconfig: every line is `SYM=value` or `# SYM is not set`,
  every symbol is defined by our Config.in files or is in BUILDROOT_SYMBOLS
  (taken from the Buildroot manual and the Config.in files it names); the
  paths under $(BR2_EXTERNAL_VIGIL_PATH) it names exist (scripts executable);
  our own symbols, loaded through kconfiglib, end up with the values it asks.
- The kernel fragment(s) a defconfig names: every line `CONFIG_X=...` or
  `# CONFIG_X is not set`, no option twice, and every option known to the
  Debian kernel's config on this machine (/boot/config-*): a value Debian
  sets differently is fine, an option Debian's kernel does not know is not.
- The vigil package installs every man page of doc/man/*.scd, rendered by
  host-scdoc into $(TARGET_DIR)/usr/share/man/manN/, from an install step it
  runs.
- The post-build script passes `sh -n`; the rootfs overlay's
  keepalived.conf passes `vigil -t` when a vigil binary is at hand.

A check that cannot run (kconfiglib not installed, no /boot/config-*, no
vigil binary) prints `SKIPPED: board/check: ...` on stderr and fails only
when VIGIL_REQUIRE_ALL=1.

`--self-test` copies the tree to a temporary directory, checks that the copy
passes, then breaks copies one way each and expects each to fail.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import kconfiglib
except ImportError:  # board/check installs it; without it the Kconfig checks are skipped
    kconfiglib = None

EXTERNAL_NAME = "VIGIL"

# Buildroot symbols our Config.in files reference, as stubs for kconfiglib:
# name -> (where Buildroot defines it, the value it takes with our
# defconfig's toolchain: x86_64, musl, C++). Add one here when a Config.in
# of ours starts to reference another Buildroot symbol.
STUB_SYMBOLS = {
    "BR2_PACKAGE_HOST_RUSTC_ARCH_SUPPORTS": ("package/rustc/Config.in.host", "y"),
    "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS": ("package/rustc/Config.in.host", "y"),
    "BR2_PACKAGE_HOST_RUSTC": ("package/rustc/Config.in.host", "n"),
    "BR2_USE_MMU": ("arch/Config.in", "y"),
    "BR2_TOOLCHAIN_HAS_THREADS": ("toolchain/toolchain-common.in", "y"),
    "BR2_TOOLCHAIN_USES_MUSL": ("toolchain/Config.in", "y"),
    "BR2_INSTALL_LIBSTDCPP": ("toolchain/toolchain-common.in", "y"),
    "BR2_INIT_NONE": ("system/Config.in", "n"),
}

# Buildroot symbols a defconfig of ours may set, with the file of Buildroot
# (2025.02) that defines each; the manual's chapters on br2-external trees,
# the cargo infrastructure, customizing the rootfs and the kernel name them.
BUILDROOT_SYMBOLS = {
    "BR2_x86_64": "arch/Config.in",
    "BR2_TOOLCHAIN_BUILDROOT_MUSL": "toolchain/toolchain-buildroot/Config.in",
    "BR2_TOOLCHAIN_BUILDROOT_GLIBC": "toolchain/toolchain-buildroot/Config.in",
    "BR2_TOOLCHAIN_BUILDROOT_CXX": "package/gcc/Config.in.host",
    "BR2_PACKAGE_HOST_LINUX_HEADERS_CUSTOM_6_12": "package/linux-headers/Config.in.host",
    "BR2_KERNEL_HEADERS_AS_KERNEL": "package/linux-headers/Config.in.host",
    "BR2_PACKAGE_HOST_RUSTC": "package/rustc/Config.in.host",
    "BR2_PACKAGE_HOST_RUST_BIN": "package/rustc/Config.in.host",
    "BR2_DOWNLOAD_FORCE_CHECK_HASHES": "Config.in",
    "BR2_INIT_NONE": "system/Config.in",
    "BR2_ROOTFS_DEVICE_CREATION_DYNAMIC_DEVTMPFS": "system/Config.in",
    "BR2_SYSTEM_BIN_SH_BUSYBOX": "system/Config.in",
    "BR2_TARGET_GENERIC_HOSTNAME": "system/Config.in",
    "BR2_TARGET_GENERIC_ISSUE": "system/Config.in",
    "BR2_ROOTFS_OVERLAY": "system/Config.in",
    "BR2_ROOTFS_POST_BUILD_SCRIPT": "system/Config.in",
    "BR2_ROOTFS_POST_IMAGE_SCRIPT": "system/Config.in",
    "BR2_ROOTFS_POST_SCRIPT_ARGS": "system/Config.in",
    "BR2_LINUX_KERNEL": "linux/Config.in",
    "BR2_LINUX_KERNEL_CUSTOM_VERSION": "linux/Config.in",
    "BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE": "linux/Config.in",
    "BR2_LINUX_KERNEL_USE_ARCH_DEFAULT_CONFIG": "linux/Config.in",
    "BR2_LINUX_KERNEL_USE_DEFCONFIG": "linux/Config.in",
    "BR2_LINUX_KERNEL_DEFCONFIG": "linux/Config.in",
    "BR2_LINUX_KERNEL_USE_CUSTOM_CONFIG": "linux/Config.in",
    "BR2_LINUX_KERNEL_CUSTOM_CONFIG_FILE": "linux/Config.in",
    "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES": "linux/Config.in",
    "BR2_LINUX_KERNEL_BZIMAGE": "linux/Config.in",
    "BR2_LINUX_KERNEL_NEEDS_HOST_LIBELF": "linux/Config.in",
    "BR2_LINUX_KERNEL_NEEDS_HOST_OPENSSL": "linux/Config.in",
    "BR2_PACKAGE_BUSYBOX": "package/busybox/Config.in",
    "BR2_PACKAGE_IPVSADM": "package/ipvsadm/Config.in",
    "BR2_TARGET_ROOTFS_CPIO": "fs/cpio/Config.in",
    "BR2_TARGET_ROOTFS_CPIO_GZIP": "fs/cpio/Config.in",
    "BR2_TARGET_ROOTFS_EXT2": "fs/ext2/Config.in",
    "BR2_TARGET_ROOTFS_EXT2_4": "fs/ext2/Config.in",
    "BR2_TARGET_ROOTFS_TAR": "fs/tar/Config.in",
}

# The manual's <pkg>_SITE_METHOD values, and its .hash file digest types.
SITE_METHODS = {"wget", "scp", "sftp", "svn", "cvs", "git", "hg", "bzr", "file", "local", "smb"}
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
MK_REQUIRED = ("VERSION", "SITE", "SITE_METHOD", "LICENSE", "LICENSE_FILES")
CARGO_EVAL = "$(eval $(cargo-package))"


class Report:
    def __init__(self, quiet=False):
        self.errors = []
        self.skips = []
        self.notes = []
        self.quiet = quiet

    def error(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def skip(self, msg):
        self.skips.append(msg)

    def ok(self, msg):
        self.notes.append(msg)


def rel(board, path):
    return os.path.relpath(path, os.path.dirname(board))


def expand(board, value):
    """$(BR2_EXTERNAL_VIGIL_PATH) as Buildroot sets it: the tree's absolute path."""
    for form in (f"$(BR2_EXTERNAL_{EXTERNAL_NAME}_PATH)", f"${{BR2_EXTERNAL_{EXTERNAL_NAME}_PATH}}",
                 f"$BR2_EXTERNAL_{EXTERNAL_NAME}_PATH"):
        value = value.replace(form, board)
    return value


# ---------------------------------------------------------------- external.desc, external.mk

def check_external_desc(board, r):
    path = os.path.join(board, "external.desc")
    if not os.path.isfile(path):
        return r.error("external.desc", "missing")
    keys = {}
    for n, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        if not line.strip():
            continue
        m = re.fullmatch(r"([a-z]+): +(.+)", line)
        if not m:
            r.error(f"external.desc:{n}", f"not `keyword: value`: {line!r}")
            continue
        if m.group(1) not in ("name", "desc"):
            r.error(f"external.desc:{n}", f"unknown keyword {m.group(1)!r} (the manual knows name and desc)")
        keys[m.group(1)] = m.group(2).strip()
    name = keys.get("name")
    if name is None:
        r.error("external.desc", "no name: (mandatory)")
    elif not re.fullmatch(r"[A-Za-z0-9_]+", name):
        r.error("external.desc", f"name {name!r} has characters outside [A-Za-z0-9_]")
    elif name != EXTERNAL_NAME:
        r.error("external.desc", f"name is {name!r}; our files use BR2_EXTERNAL_{EXTERNAL_NAME}_PATH")
    desc = keys.get("desc")
    if not desc:
        r.error("external.desc", "no desc:")
    elif len(desc) > 40:
        r.error("external.desc", f"desc is {len(desc)} characters; the manual suggests 40 at most")
    if not r.errors:
        r.ok(f"external.desc: name {name}, desc {desc!r}")


def check_external_mk(board, r):
    path = os.path.join(board, "external.mk")
    if not os.path.isfile(path):
        return r.error("external.mk", "missing")
    included = set()
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line.startswith("include ") and not line.startswith("-include "):
            continue
        arg = expand(board, line.split(None, 1)[1])
        for w in re.findall(r"\$\(wildcard ([^)]+)\)", arg):
            for pattern in w.split():
                included.update(os.path.realpath(p) for p in glob.glob(pattern))
        for word in re.sub(r"\$\([^)]*\)", " ", arg).split():
            included.add(os.path.realpath(word))
    mks = sorted(glob.glob(os.path.join(board, "package", "*", "*.mk")))
    if not mks:
        r.error("external.mk", "no package/*/*.mk to include")
    for mk in mks:
        if os.path.realpath(mk) not in included:
            r.error("external.mk", f"does not include {rel(board, mk)}")
    r.ok(f"external.mk: includes {len(mks)} package .mk file(s)")


# ---------------------------------------------------------------- Config.in (kconfiglib)

def our_config_symbols_by_regex(board):
    """Symbol names our Config.in files define, for when kconfiglib is missing."""
    names = set()
    for path in glob.glob(os.path.join(board, "**", "Config.in*"), recursive=True):
        for line in open(path, encoding="utf-8"):
            m = re.match(r"\s*(?:menu)?config\s+(\w+)", line)
            if m:
                names.add(m.group(1))
    return names


def load_kconfig(board, r):
    """Parses board/Config.in (and what it sources) below a file of stubs."""
    tmp = tempfile.mkdtemp(prefix="vigil-board-kconfig.")
    try:
        top = os.path.join(tmp, "Config.in")
        with open(top, "w", encoding="utf-8") as f:
            f.write('mainmenu "vigil board check"\n\n')
            f.write("# Stubs for the Buildroot symbols our Config.in files reference.\n")
            for name, (_, value) in sorted(STUB_SYMBOLS.items()):
                f.write(f'config {name}\n\tbool "{name}"\n\tdefault {value}\n\n')
            f.write(f'menu "External options"\nsource "$BR2_EXTERNAL_{EXTERNAL_NAME}_PATH/Config.in"\nendmenu\n')
        env_before = {k: os.environ.get(k)
                      for k in ("srctree", "CONFIG_", "KCONFIG_WARN_UNDEF", f"BR2_EXTERNAL_{EXTERNAL_NAME}_PATH")}
        os.environ["srctree"] = tmp
        # Buildroot's symbols carry their BR2_ in their names: .config lines have no other prefix.
        os.environ["CONFIG_"] = ""
        os.environ["KCONFIG_WARN_UNDEF"] = "y"
        os.environ[f"BR2_EXTERNAL_{EXTERNAL_NAME}_PATH"] = board
        try:
            kconf = kconfiglib.Kconfig(top, warn_to_stderr=False)
        except kconfiglib.KconfigError as e:
            r.error("Config.in", f"kconfiglib: {str(e).strip()}")
            return None
        except OSError as e:
            r.error("Config.in", f"kconfiglib: {e}")
            return None
        finally:
            for k, v in env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        for w in kconf.warnings:
            # The first line says what; kconfiglib then quotes the whole entry.
            lines = w.strip().splitlines()
            where = [l.strip("- :") for l in lines if l.lstrip("- ").startswith("Referenced at")]
            r.error("Config.in", f"kconfiglib: {' '.join([lines[0].rstrip(':')] + where)}")
        return kconf
    finally:
        shutil.rmtree(tmp, ignore_errors=True)




def check_kconfig(board, r):
    """Returns the names of the symbols our Config.in files define."""
    if kconfiglib is None:
        r.skip("kconfiglib unavailable")
        return our_config_symbols_by_regex(board)
    kconf = load_kconfig(board, r)
    if kconf is None:
        return our_config_symbols_by_regex(board)
    defined = {name for name, sym in kconf.syms.items() if sym.nodes and name not in STUB_SYMBOLS}
    files = {os.path.realpath(f) for f in glob.glob(os.path.join(board, "**", "Config.in"), recursive=True)}
    parsed = {os.path.realpath(p) for p in kconf.kconfig_filenames if os.path.isabs(p)} | \
             {os.path.realpath(os.path.join(board, "..", p)) for p in kconf.kconfig_filenames if not os.path.isabs(p)}
    for f in sorted(files):
        if f not in parsed and not any(p.endswith(os.path.relpath(f, board)) for p in kconf.kconfig_filenames):
            r.error(rel(board, f), "not sourced from board/Config.in")
    for mk in sorted(glob.glob(os.path.join(board, "package", "*", "*.mk"))):
        pkg = os.path.basename(mk)[:-3]
        sym = kconf.syms.get("BR2_PACKAGE_" + pkg.upper().replace("-", "_"))
        where = f"package/{pkg}/Config.in"
        if sym is None or not sym.nodes:
            r.error(where, f"no BR2_PACKAGE_{pkg.upper().replace('-', '_')}")
            continue
        if not any(n.help for n in sym.nodes):
            r.error(where, f"{sym.name} has no help text")
        if CARGO_EVAL in open(mk, encoding="utf-8").read():
            deps = {s.name for s in kconfiglib.expr_items(sym.direct_dep)}
            if "BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS" not in deps:
                r.error(where, f"{sym.name} must depend on BR2_PACKAGE_HOST_RUSTC_TARGET_ARCH_SUPPORTS (cargo-package)")
            if "BR2_PACKAGE_HOST_RUSTC" not in {s[0].name for s in sym.selects}:
                r.error(where, f"{sym.name} must select BR2_PACKAGE_HOST_RUSTC (cargo-package)")
    r.ok(f"Config.in: {len(kconf.kconfig_filenames)} file(s) parsed by kconfiglib {getattr(kconfiglib, '__version__', '')}".rstrip()
         + f", symbols {', '.join(sorted(defined))}")
    return defined


# ---------------------------------------------------------------- package .mk and .hash

def mk_assignments(text):
    """VAR -> value for the plain assignments of a .mk (define blocks skipped)."""
    out, in_define = {}, False
    text = re.sub(r"\\\n", " ", text)
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("define "):
            in_define = True
            continue
        if s == "endef":
            in_define = False
            continue
        if in_define or s.startswith("#"):
            continue
        m = re.match(r"([A-Z0-9_]+)\s*(\+=|:=|\?=|=)\s*(.*)$", s)
        if m:
            var, op, val = m.groups()
            out[var] = (out.get(var, "") + " " + val).strip() if op == "+=" else val.strip()
    return out


def check_package(board, mk, r):
    pkg = os.path.basename(mk)[:-3]
    where = f"package/{pkg}/{pkg}.mk"
    if os.path.basename(os.path.dirname(mk)) != pkg:
        r.error(where, "a package's .mk must be package/<name>/<name>.mk")
    prefix = pkg.upper().replace("-", "_") + "_"
    text = open(mk, encoding="utf-8").read()
    a = mk_assignments(text)
    for v in MK_REQUIRED:
        if not a.get(prefix + v):
            r.error(where, f"{prefix}{v} is not set")
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    evals = [l for l in lines if l.startswith("$(eval ")]
    if CARGO_EVAL not in evals:
        r.error(where, f"no {CARGO_EVAL}")
    elif len(evals) != 1 or lines[-1] != CARGO_EVAL:
        r.error(where, f"{CARGO_EVAL} must be the last line, once")
    method = a.get(prefix + "SITE_METHOD", "")
    if method and method not in SITE_METHODS:
        r.error(where, f"{prefix}SITE_METHOD {method!r} is not one the manual lists")
    srcdir = None
    if method == "local":
        site = os.path.normpath(expand(board, a.get(prefix + "SITE", "")))
        if not os.path.isdir(site):
            r.error(where, f"{prefix}SITE {site} is not a directory (the local method copies one)")
        else:
            srcdir = site
            cargo = os.path.join(site, "Cargo.toml")
            if not os.path.isfile(cargo):
                r.error(where, f"{prefix}SITE has no Cargo.toml")
            elif not re.search(rf'(?m)^name\s*=\s*"{re.escape(pkg)}"', open(cargo, encoding="utf-8").read()):
                r.error(where, f"{prefix}SITE's Cargo.toml is not the {pkg} crate")
    licence_files = a.get(prefix + "LICENSE_FILES", "").split()
    if srcdir:
        for lf in licence_files:
            if not os.path.isfile(os.path.join(srcdir, lf)):
                r.error(where, f"licence file {lf} not found in {prefix}SITE")
    check_hash(board, pkg, licence_files, srcdir, r)
    if pkg == "vigil":
        check_man_pages(pkg, text, a, srcdir or os.path.dirname(board), r)
    if not any(e.startswith(where) for e in r.errors):
        r.ok(f"{where}: " + ", ".join(f"{v}={a[prefix + v]}" for v in ("VERSION", "SITE_METHOD", "LICENSE"))
             + f", {CARGO_EVAL} last")


def check_man_pages(pkg, text, a, srcdir, r):
    """The package installs every man page of the source tree (doc/man/
    NAME.SECTION.scd) as Buildroot packages do: rendered by the host's scdoc
    (host-scdoc a dependency) into $(TARGET_DIR)/usr/share/man/manSECTION/
    NAME.SECTION, from a define block the package runs (its
    INSTALL_TARGET_CMDS or one of its POST_INSTALL_TARGET_HOOKS)."""
    where = f"package/{pkg}/{pkg}.mk"
    prefix = pkg.upper().replace("-", "_") + "_"
    pages = sorted(glob.glob(os.path.join(srcdir, "doc", "man", "*.scd")))
    if not pages:
        return r.error(where, f"{prefix}SITE has no doc/man/*.scd (the man pages vigil(8) and vigil.conf(5))")
    if "host-scdoc" not in a.get(prefix + "DEPENDENCIES", "").split():
        r.error(where, f"{prefix}DEPENDENCIES lacks host-scdoc, which renders the man pages")
    blocks = dict(re.findall(r"(?ms)^define ([A-Z0-9_]+)\n(.*?)^endef", re.sub(r"\\\n", " ", text)))
    run = set(a.get(prefix + "POST_INSTALL_TARGET_HOOKS", "").split()) | {prefix + "INSTALL_TARGET_CMDS"}
    body = "\n".join(v for k, v in blocks.items() if k in run)
    missing = []
    for src in pages:
        page = os.path.basename(src)[:-4]
        section = page.rsplit(".", 1)[-1]
        want = re.compile(rf"\$\(HOST_DIR\)/bin/scdoc\s*<\s*\$\(@D\)/doc/man/{re.escape(page)}\.scd\s*>\s*"
                          rf"\$\(TARGET_DIR\)/usr/share/man/man{re.escape(section)}/{re.escape(page)}\s*$", re.M)
        if not want.search(body):
            missing.append(page)
    if missing:
        r.error(where, "man pages not installed by an install step the package runs "
                f"($(HOST_DIR)/bin/scdoc < $(@D)/doc/man/PAGE.scd > $(TARGET_DIR)/usr/share/man/manN/PAGE): "
                + ", ".join(missing))
    else:
        r.ok(f"{where}: installs the man pages " + ", ".join(os.path.basename(p)[:-4] for p in pages))


def check_hash(board, pkg, licence_files, srcdir, r):
    path = os.path.join(board, "package", pkg, f"{pkg}.hash")
    where = f"package/{pkg}/{pkg}.hash"
    if not os.path.isfile(path):
        return r.error(where, "missing")
    hashed = {}
    for n, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z0-9]+)  ([0-9a-f]+)  (\S+)", line)
        if not m:
            r.error(f"{where}:{n}", f"not `<type>  <hex>  <file>` with two spaces: {line!r}")
            continue
        kind, digest, name = m.groups()
        if kind not in HASH_LENGTHS:
            r.error(f"{where}:{n}", f"hash type {kind!r} is not one the manual lists")
        elif len(digest) != HASH_LENGTHS[kind]:
            r.error(f"{where}:{n}", f"{kind} needs {HASH_LENGTHS[kind]} hex digits, not {len(digest)}")
        else:
            hashed.setdefault(name, []).append((kind, digest, n))
    for lf in licence_files:
        if lf not in hashed:
            r.error(where, f"no hash for licence file {lf} (make legal-info checks it)")
        elif srcdir and os.path.isfile(os.path.join(srcdir, lf)):
            data = open(os.path.join(srcdir, lf), "rb").read()
            for kind, digest, n in hashed[lf]:
                if hashlib.new(kind, data).hexdigest() != digest:
                    r.error(f"{where}:{n}", f"{kind} of {lf} does not match the file")
    if not any(e.startswith(where) for e in r.errors):
        r.ok(f"{where}: {sum(len(v) for v in hashed.values())} hash(es), licence file(s) match")


# ---------------------------------------------------------------- defconfig

DEFCONFIG_LINE = re.compile(r'(BR2_\w+)=(y|m|"(?:[^"\\]|\\.)*"|-?\d+|0x[0-9a-fA-F]+)')


def check_defconfig(board, path, defined, r):
    where = os.path.relpath(path, board)
    errors_before = len(r.errors)
    values, fragments = {}, []
    for n, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        m = re.fullmatch(r"# (BR2_\w+) is not set", s)
        if m:
            name, value = m.group(1), "n"
        elif s.startswith("#"):
            continue
        else:
            m = DEFCONFIG_LINE.fullmatch(s)
            if not m:
                r.error(f"{where}:{n}", f"not `BR2_SYMBOL=value`: {line!r}")
                continue
            name, value = m.groups()
        if name in values:
            r.error(f"{where}:{n}", f"{name} set twice")
        values[name] = value
        if name not in defined and name not in BUILDROOT_SYMBOLS:
            r.error(f"{where}:{n}", f"{name} is defined neither by our Config.in nor in board/check's BUILDROOT_SYMBOLS")
        if value.startswith('"') and f"BR2_EXTERNAL_{EXTERNAL_NAME}_PATH" in value:
            for p in expand(board, value[1:-1]).split():
                if not os.path.exists(p):
                    r.error(f"{where}:{n}", f"{name}: {rel(board, p)} does not exist")
                elif name.endswith("_SCRIPT") and not os.access(p, os.X_OK):
                    r.error(f"{where}:{n}", f"{name}: {rel(board, p)} is not executable")
                elif name == "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES":
                    fragments.append(p)
    if kconfiglib is not None and len(r.errors) == errors_before:
        check_defconfig_values(board, path, values, r)
    if not any(e.startswith(where) for e in r.errors):
        r.ok(f"{where}: {len(values)} symbols, all defined; paths exist")
    return fragments


def check_defconfig_values(board, path, values, r):
    """Our symbols, with the defconfig loaded over the stubs, take the values it asks."""
    kconf = load_kconfig(board, r)
    if kconf is None:
        return
    kconf.warn_assign_undef = False
    kconf.load_config(path)
    for name, want in values.items():
        sym = kconf.syms.get(name)
        if sym is None or not sym.nodes or name in STUB_SYMBOLS:
            continue
        got = sym.str_value
        want = want.strip('"') if want.startswith('"') else want
        if got != want:
            r.error(os.path.relpath(path, board), f"{name}={want} asked, but Kconfig gives {got or 'n'} "
                    f"(depends on {kconfiglib.expr_str(sym.direct_dep)})")


# ---------------------------------------------------------------- kernel fragment

def debian_kernel_config():
    release = os.uname().release
    own = f"/boot/config-{release}"
    if os.path.isfile(own):
        return own
    found = sorted(glob.glob("/boot/config-*"))
    return found[-1] if found else None


def check_fragment(board, path, debian, r):
    where = os.path.relpath(path, board)
    opts = {}
    for n, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        m = re.fullmatch(r"# CONFIG_(\w+) is not set", s)
        if not m and s.startswith("#"):
            continue
        if not m:
            m = re.fullmatch(r'CONFIG_(\w+)=(y|m|n|"(?:[^"\\]|\\.)*"|-?\d+|0x[0-9a-fA-F]+)', s)
        if not m:
            r.error(f"{where}:{n}", f"not `CONFIG_X=value` or `# CONFIG_X is not set`: {line!r}")
            continue
        if m.group(1) in opts:
            r.error(f"{where}:{n}", f"CONFIG_{m.group(1)} given twice (also line {opts[m.group(1)]})")
        opts[m.group(1)] = n
    if debian is None:
        r.skip("no /boot/config-* to check the kernel fragment's options against")
        return
    known = set()
    for line in open(debian, encoding="utf-8", errors="replace"):
        m = re.match(r"(?:# )?CONFIG_(\w+)(?:=| is not set)", line)
        if m:
            known.add(m.group(1))
    for opt, n in opts.items():
        if opt not in known:
            r.error(f"{where}:{n}", f"CONFIG_{opt} is not an option of Debian's kernel ({debian})")
    if not any(e.startswith(where) for e in r.errors):
        r.ok(f"{where}: {len(opts)} options, all known to {debian}")


# ---------------------------------------------------------------- board files

def vigil_binary(root):
    for p in (os.environ.get("VIGIL_BIN", ""),
              os.path.join(root, "target", "x86_64-unknown-linux-musl", "release", "vigil"),
              os.path.join(root, "target", "release", "vigil"),
              os.path.join(root, "target", "debug", "vigil")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def check_board_files(board, root, r):
    bdir = os.path.join(board, "vigil")
    script = os.path.join(bdir, "post-build.sh")
    if os.path.isfile(script):
        res = subprocess.run(["sh", "-n", script], capture_output=True, text=True)
        if res.returncode != 0:
            r.error("vigil/post-build.sh", f"sh -n: {res.stderr.strip()}")
    conf = os.path.join(bdir, "rootfs_overlay", "etc", "keepalived", "keepalived.conf")
    if not os.path.isfile(conf):
        return r.error("vigil/rootfs_overlay", "no etc/keepalived/keepalived.conf")
    binary = vigil_binary(root)
    if binary is None:
        return r.skip("no vigil binary to run `vigil -t` on the overlay's keepalived.conf (build it, or set VIGIL_BIN)")
    res = subprocess.run([binary, "-t", "-f", conf], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        r.error("vigil/rootfs_overlay/etc/keepalived/keepalived.conf",
                f"vigil -t exits {res.returncode}: {(res.stdout + res.stderr).strip()}")
    else:
        r.ok("vigil/rootfs_overlay/etc/keepalived/keepalived.conf: vigil -t accepts it")


# ---------------------------------------------------------------- the whole tree

def check_tree(board, root, debian, quiet=False):
    board = os.path.realpath(board)
    r = Report(quiet)
    check_external_desc(board, r)
    check_external_mk(board, r)
    defined = check_kconfig(board, r)
    for mk in sorted(glob.glob(os.path.join(board, "package", "*", "*.mk"))):
        check_package(board, mk, r)
    defconfigs = sorted(glob.glob(os.path.join(board, "configs", "*_defconfig")))
    if not defconfigs:
        r.error("configs", "no *_defconfig")
    fragments = []
    for d in defconfigs:
        fragments += check_defconfig(board, d, defined, r)
    for f in sorted(set(fragments)):
        check_fragment(board, f, debian, r)
    check_board_files(board, root, r)
    return r


def finish(r, require_all):
    for n in r.notes:
        print(f"board/check: ok: {n}")
    for s in r.skips:
        print(f"SKIPPED: board/check: {s}", file=sys.stderr)
    for e in r.errors:
        print(f"board/check: error: {e}", file=sys.stderr)
    failed = bool(r.errors) or (require_all and bool(r.skips))
    print(f"board/check: {'FAILED' if failed else 'passed'} ({len(r.errors)} errors, {len(r.skips)} skipped)")
    return 1 if failed else 0


# ---------------------------------------------------------------- self-test

def _edit(path, old, new):
    text = open(path, encoding="utf-8").read()
    if old not in text:
        raise AssertionError(f"self-test: {old!r} not in {path}")
    open(path, "w", encoding="utf-8").write(text.replace(old, new, 1))


def _append(path, text):
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


# Each breakage: (what, function(board_copy), the check it must trip, needs).
BREAKAGES = [
    ("Config.in references an undefined symbol",
     lambda b: _edit(f"{b}/package/vigil/Config.in", "depends on BR2_USE_MMU", "depends on BR2_NO_SUCH_SYMBOL"),
     "undefined", "kconfiglib"),
    ("Config.in has a syntax error",
     lambda b: _append(f"{b}/package/vigil/Config.in", "\nconfig\n"), "Config.in", "kconfiglib"),
    ("board/Config.in does not source the package",
     lambda b: open(f"{b}/Config.in", "w").write(""), "BR2_PACKAGE_VIGIL", "kconfiglib"),
    ("cargo package does not select host-rustc",
     lambda b: _edit(f"{b}/package/vigil/Config.in", "\tselect BR2_PACKAGE_HOST_RUSTC\n", ""),
     "select BR2_PACKAGE_HOST_RUSTC", "kconfiglib"),
    ("external.desc has a bad name",
     lambda b: _edit(f"{b}/external.desc", "name: VIGIL", "name: VI-GIL"), "external.desc", None),
    ("external.mk includes nothing",
     lambda b: open(f"{b}/external.mk", "w").write("# nothing\n"), "external.mk", None),
    (".mk lacks VIGIL_LICENSE",
     lambda b: _edit(f"{b}/package/vigil/vigil.mk", "VIGIL_LICENSE = ", "VIGIL_LICENCE = "),
     "VIGIL_LICENSE is not set", None),
    (".mk has something after the cargo-package eval",
     lambda b: _append(f"{b}/package/vigil/vigil.mk", "VIGIL_LATE = 1\n"), "last line", None),
    (".mk uses the generic infrastructure",
     lambda b: _edit(f"{b}/package/vigil/vigil.mk", CARGO_EVAL, "$(eval $(generic-package))"),
     "cargo-package", None),
    (".hash has a short digest",
     lambda b: _append(f"{b}/package/vigil/vigil.hash", "sha256  " + "a" * 63 + "  vigil-0.1.0.tar.gz\n"),
     "64 hex digits", None),
    (".hash separates fields with one space",
     lambda b: _append(f"{b}/package/vigil/vigil.hash", "sha256 " + "a" * 64 + " vigil-0.1.0.tar.gz\n"),
     "two spaces", None),
    (".hash has the wrong licence hash",
     lambda b: _edit(f"{b}/package/vigil/vigil.hash", "8177f975", "8177f976"), "does not match", None),
    ("defconfig sets an unknown symbol",
     lambda b: _append(f"{b}/configs/vigil_qemu_x86_64_defconfig", "BR2_NO_SUCH_OPTION=y\n"),
     "BR2_NO_SUCH_OPTION", None),
    ("defconfig names a missing overlay",
     lambda b: _edit(f"{b}/configs/vigil_qemu_x86_64_defconfig", "vigil/rootfs_overlay", "vigil/no_overlay"),
     "does not exist", None),
    ("defconfig asks for vigil as init without BR2_INIT_NONE",
     lambda b: _edit(f"{b}/configs/vigil_qemu_x86_64_defconfig", "BR2_INIT_NONE=y\n", ""),
     "BR2_PACKAGE_VIGIL_INIT", "kconfiglib"),
    ("kernel fragment names an option Debian's kernel does not have",
     lambda b: _append(f"{b}/vigil/linux.fragment", "CONFIG_VIGIL_NO_SUCH_OPTION=y\n"),
     "CONFIG_VIGIL_NO_SUCH_OPTION", "debian"),
    ("kernel fragment has a malformed line",
     lambda b: _append(f"{b}/vigil/linux.fragment", "CONFIG_IP_VS y\n"), "not `CONFIG_X=value`", None),
    (".mk does not install vigil.conf(5)",
     lambda b: _edit(f"{b}/package/vigil/vigil.mk",
                     "\t$(HOST_DIR)/bin/scdoc < $(@D)/doc/man/vigil.conf.5.scd > $(TARGET_DIR)/usr/share/man/man5/vigil.conf.5\n", ""),
     "vigil.conf.5", None),
    (".mk never runs its man page step",
     lambda b: _edit(f"{b}/package/vigil/vigil.mk", "VIGIL_POST_INSTALL_TARGET_HOOKS += VIGIL_INSTALL_MAN_PAGES\n", ""),
     "man pages not installed", None),
    (".mk renders the man pages without host-scdoc",
     lambda b: _edit(f"{b}/package/vigil/vigil.mk", "VIGIL_DEPENDENCIES += host-scdoc\n", ""),
     "host-scdoc", None),
    ("post-build script does not parse",
     lambda b: _append(f"{b}/vigil/post-build.sh", "\nif then fi\n"), "sh -n", None),
]


def self_test(board, root, debian):
    board = os.path.realpath(board)
    passed, failed, skipped = 0, 0, 0
    with tempfile.TemporaryDirectory(prefix="vigil-board-selftest.") as tmp:
        def fresh():
            top = tempfile.mkdtemp(dir=tmp)
            shutil.copytree(board, os.path.join(top, "board"), symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
            for f in ("COPYING", "Cargo.toml"):
                shutil.copy2(os.path.join(root, f), os.path.join(top, f))
            shutil.copytree(os.path.join(root, "doc", "man"), os.path.join(top, "doc", "man"))
            return top, os.path.join(top, "board")

        top, copy = fresh()
        r = check_tree(copy, root, debian)
        if r.errors:
            print("self-test: FAIL: the unbroken copy does not pass:", *r.errors, sep="\n  ")
            failed += 1
        else:
            print("self-test: ok: the unbroken copy passes")
            passed += 1
        for what, breakit, expect, needs in BREAKAGES:
            if needs == "kconfiglib" and kconfiglib is None or needs == "debian" and debian is None:
                print(f"self-test: skipped: {what} (needs {needs})")
                skipped += 1
                continue
            top, copy = fresh()
            breakit(copy)
            r = check_tree(copy, root, debian)
            hits = [e for e in r.errors if expect in e]
            if hits:
                print(f"self-test: ok: {what}: {hits[0]}")
                passed += 1
            else:
                print(f"self-test: FAIL: {what}: no error mentioning {expect!r}; errors: {r.errors}")
                failed += 1
    summary = f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")
    print(f"self-test: {summary}")
    return failed, skipped


def main(argv):
    board = os.path.dirname(os.path.realpath(__file__))
    root = os.path.dirname(board)
    require_all = os.environ.get("VIGIL_REQUIRE_ALL") == "1"
    debian = debian_kernel_config()
    if argv[1:] == ["--self-test"]:
        failed, skipped = self_test(board, root, debian)
        if kconfiglib is None:
            print("SKIPPED: board/check: kconfiglib unavailable", file=sys.stderr)
        if debian is None:
            print("SKIPPED: board/check: no /boot/config-* to check the kernel fragment's options against",
                  file=sys.stderr)
        return 1 if failed or (require_all and skipped) else 0
    if argv[1:]:
        print("usage: board/check [--self-test]", file=sys.stderr)
        return 2
    return finish(check_tree(board, root, debian), require_all)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
