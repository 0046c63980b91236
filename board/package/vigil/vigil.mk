################################################################################
#
# vigil
#
################################################################################

# Development: build the source tree this br2-external tree sits in
# (board/ is at the top of the vigil repository). The `local` method
# rsyncs that directory into the build directory; it downloads nothing,
# so there is no tarball to hash (vigil.hash covers only the licence file
# then) and no download step in which Buildroot would vendor the crates:
# VIGIL_CARGO_VENDOR below does that instead.
#
# Release: drop the three lines below and use the release tarball,
#   VIGIL_SOURCE = vigil-$(VIGIL_VERSION).tar.gz
#   VIGIL_SITE = https://<where releases are published>
# Buildroot then downloads it, runs `cargo vendor` into it (support/
# download/cargo-post-process, a VENDOR/ directory and .cargo/config.toml)
# and keeps the result in DL_DIR; vigil.hash must carry the sha256 of that
# vendored tarball. See board/vigil/readme.txt.
VIGIL_VERSION = 0.3.0
VIGIL_SITE = $(BR2_EXTERNAL_VIGIL_PATH)/..
VIGIL_SITE_METHOD = local

VIGIL_LICENSE = GPL-2.0-or-later
VIGIL_LICENSE_FILES = COPYING

# Cargo's own build output (gigabytes) is not source; leave it behind.
VIGIL_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = --exclude=target --exclude=fuzz/target

# A local (or OVERRIDE_SRCDIR) source has no download step, so the
# infrastructure's cargo vendoring does not run; do the same before the
# build, with the same CARGO_HOME (in DL_DIR), so that crates fetched
# once are reused and later builds need no network. Our patched
# async-io and async-executor (vendor/, [patch.crates-io] in Cargo.toml)
# are path dependencies: cargo vendor leaves them where they are.
define VIGIL_CARGO_VENDOR
	mkdir -p $(@D)/.cargo $(BR_CARGO_HOME)
	cd $(@D) && $(HOST_MAKE_ENV) $(PKG_COMMON_CARGO_ENV) \
		flock $(BR_CARGO_HOME)/.br-lock \
		cargo vendor --locked VENDOR > $(@D)/.cargo/config.toml
endef
ifeq ($(VIGIL_SITE_METHOD),local)
VIGIL_PRE_BUILD_HOOKS += VIGIL_CARGO_VENDOR
# The local method's rsync leaves .git behind: name the revision for
# `vigil -v` from the source tree itself (build.rs says "unknown" without).
VIGIL_CARGO_ENV += VIGIL_GIT_REVISION=$(shell git -C $(VIGIL_SITE) rev-parse --short=12 HEAD 2>/dev/null)
endif

# The man pages vigil(8) and vigil.conf(5), rendered from doc/man/*.scd by
# the host's scdoc (Buildroot's host-scdoc package), installed where every
# package puts its pages. Note: Buildroot's target-finalize removes
# /usr/share/man from the root file system it makes (an appliance carries
# no manual), so the pages reach an image only where that step is changed;
# packagers building their own root file system find them here.
VIGIL_DEPENDENCIES += host-scdoc
define VIGIL_INSTALL_MAN_PAGES
	mkdir -p $(TARGET_DIR)/usr/share/man/man8 $(TARGET_DIR)/usr/share/man/man5
	$(HOST_DIR)/bin/scdoc < $(@D)/doc/man/vigil.8.scd > $(TARGET_DIR)/usr/share/man/man8/vigil.8
	$(HOST_DIR)/bin/scdoc < $(@D)/doc/man/vigil.conf.5.scd > $(TARGET_DIR)/usr/share/man/man5/vigil.conf.5
endef
VIGIL_POST_INSTALL_TARGET_HOOKS += VIGIL_INSTALL_MAN_PAGES

# The infrastructure's install step (cargo install --root $(TARGET_DIR)/usr)
# would put it in /usr/bin; the appliance wants /sbin/vigil, and
# genhash as keepalived has it (vigil acts as genhash by that name).
VIGIL_BUILD_PROFILE = $(if $(BR2_ENABLE_DEBUG),debug,release)
define VIGIL_INSTALL_TARGET_CMDS
	mkdir -p $(TARGET_DIR)/usr/bin
	$(INSTALL) -D -m 0755 \
		$(@D)/target/$(RUSTC_TARGET_NAME)/$(VIGIL_BUILD_PROFILE)/vigil \
		$(TARGET_DIR)/sbin/vigil
	ln -sf ../../sbin/vigil $(TARGET_DIR)/usr/bin/genhash
endef

ifeq ($(BR2_PACKAGE_VIGIL_INIT),y)
define VIGIL_INSTALL_INIT
	ln -sf sbin/vigil $(TARGET_DIR)/init
	ln -sf vigil $(TARGET_DIR)/sbin/init
endef
VIGIL_POST_INSTALL_TARGET_HOOKS += VIGIL_INSTALL_INIT
endif

$(eval $(cargo-package))
