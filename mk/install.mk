# mk/install.mk: make install / make uninstall (mk/install.sh does the
# work), the CMake package (cmake/) and the tools the tests of both need.
#   make install PREFIX=/usr/local DESTDIR=/tmp/stage
#   make uninstall PREFIX=/usr/local DESTDIR=/tmp/stage
# Installs bin/cnnc, bin/cnnc-import, bin/cnnc-export, share/cnnc/{runtime,
# tools,firmware}, share/man/man1/cnnc.1 and lib/cmake/cnnc; uninstall
# removes exactly what install wrote (share/cnnc/manifest lists it).
# tests/unit/test_install.c, test_cmake.c and test_svg.c use the packages.

PREFIX  ?= /usr/local
DESTDIR ?=

APT_NEED += cmd:cmake:cmake cmd:ninja:ninja-build cmd:xmllint:libxml2-utils cmd:rsvg-convert:librsvg2-bin

.PHONY: install uninstall
install: $(BUILD)/cnnc
	@sh mk/install.sh install "$(DESTDIR)" "$(PREFIX)" "$(BUILD)"

uninstall:
	@sh mk/install.sh uninstall "$(DESTDIR)" "$(PREFIX)"
