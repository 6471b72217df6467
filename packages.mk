# SPDX-License-Identifier: GPL-2.0-or-later
# Packages for Qubes templates, built from the release tarball (make dist)
# so that they hold exactly what a release does:
#   make deb   Debian: qrexec-proxy and qrexec-proxy-dev (dpkg-buildpackage -b,
#              from debian/), into pkg-deb/
#   make rpm   Fedora: qrexec-proxy and qrexec-proxy-devel (rpmbuild -bb,
#              from rpm/qrexec-proxy.spec), into pkg-rpm/RPMS/
# DEB_BUILD_OPTIONS and DPKG_BUILDPACKAGE_FLAGS, RPMBUILD_FLAGS pass options on.
# On Debian, rpmbuild cannot see the build dependencies (they are Debian
# packages), so make rpm passes --nodeps there, and only there.
# (debian/ file by file: a dpkg-buildpackage run in the source tree leaves its products there)
EXTRA_DIST += debian/changelog debian/control debian/copyright debian/rules debian/source/format \
	debian/qrexec-proxy.install debian/qrexec-proxy.dirs debian/qrexec-proxy.prerm debian/qrexec-proxy.postrm \
	debian/qrexec-proxy-dev.install debian/qrexec-proxy.lintian-overrides \
	rpm/qrexec-proxy.spec.in rpm/qrexec-proxy.spec packages.mk

DPKG_BUILDPACKAGE_FLAGS =
RPMBUILD_FLAGS = $$(test -f /etc/debian_version && echo --nodeps)

deb: dist-gzip
	@test -n "$(DPKG_BUILDPACKAGE)" || { echo "make deb: dpkg-buildpackage not found (apt-get install dpkg-dev debhelper)" >&2; exit 1; }
	rm -rf pkg-deb && $(MKDIR_P) pkg-deb
	tar -C pkg-deb -xzf $(distdir).tar.gz
	cd pkg-deb/$(distdir) && $(DPKG_BUILDPACKAGE) -us -uc -b $(DPKG_BUILDPACKAGE_FLAGS)
	rm -rf pkg-deb/$(distdir)
	@ls -l pkg-deb/*.deb

rpm: dist-gzip rpm/qrexec-proxy.spec
	@test -n "$(RPMBUILD)" || { echo "make rpm: rpmbuild not found (Debian: apt-get install rpm)" >&2; exit 1; }
	rm -rf pkg-rpm && $(MKDIR_P) pkg-rpm/SOURCES
	cp $(distdir).tar.gz pkg-rpm/SOURCES/
	$(RPMBUILD) -bb $(RPMBUILD_FLAGS) --define '_topdir $(abs_builddir)/pkg-rpm' rpm/qrexec-proxy.spec
	@ls -l pkg-rpm/RPMS/*/*.rpm

clean-local: clean-packages
clean-packages:
	rm -rf pkg-deb pkg-rpm
.PHONY: deb rpm clean-packages
